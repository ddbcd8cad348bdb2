using System.CommandLine;
using System.Globalization;
using System.Xml.Linq;
using EventLoop.Cli.CommandLine;

namespace EventLoop.Cli.Plotting;

/// <summary>What <c>eventloop plot</c> draws, from which file, to which file. Immutable.</summary>
internal sealed record PlotOptions
{
    public string Output { get; init; } = "plot.svg";
    public string Chart { get; init; } = "lines";
    public string Title { get; init; } = "";
    public string XTitle { get; init; } = "";
    public string YTitle { get; init; } = "";
    public bool LogX { get; init; }
    public double? Reference { get; init; }
}

/// <summary>
/// <c>eventloop plot DATA.csv --out FILE.svg</c>: draws a CSV that a benchmark script wrote, so the scripts
/// stay shell and every chart of the project comes from <see cref="SvgChart"/>.
/// </summary>
internal static class PlotCommand
{
    private const string Notes = """
        DATA is CSV with a header line, then one row per point, without commas inside fields:
          lines: series,x,y           one line per series, points in file order
          bars:  category,series,value  one group of bars per category, one bar per series
        Exit codes: 0 written, 1 the data cannot be read or drawn, 2 bad options.
        """;

    private static readonly OptionTable<PlotOptions> Options = new(new PlotOptions())
    {
        { "--out -o", "FILE", "the SVG file to write", o => o.Output, OptionValues.Text, (o, v) => o with { Output = v } },
        { "--chart", "lines|bars", "line chart of series,x,y rows or grouped bars of category,series,value rows", o => o.Chart, Chart, (o, v) => o with { Chart = v }, ["lines", "bars"] },
        { "--title", "TEXT", "the chart's title", o => o.Title, OptionValues.Text, (o, v) => o with { Title = v } },
        { "--x-title", "TEXT", "the x axis's title (lines)", o => o.XTitle, OptionValues.Text, (o, v) => o with { XTitle = v } },
        { "--y-title", "TEXT", "the y axis's title", o => o.YTitle, OptionValues.Text, (o, v) => o with { YTitle = v } },
        { "--log-x", "yes|no", "logarithmic x axis (lines)", o => o.LogX, OptionValues.YesNo, (o, v) => o with { LogX = v }, ["yes", "no"] },
        { "--reference", "Y", "a dashed line across at this value (bars: 1 on a chart of ratios)", o => o.Reference, OptionValues.Number, (o, v) => o with { Reference = v } },
    };

    private static readonly Argument<string> Data = new("data") { Description = "the CSV file to draw" };

    /// <summary>The <c>plot</c> command.</summary>
    public static Command Create()
    {
        var command = new NotedCommand("plot", "Draws a CSV of figures as an SVG line or bar chart.", Notes).WithOptions(Options);
        command.Add(Data);
        command.SetAction(parsed =>
        {
            PlotOptions options = Options.Bind(parsed);
            try
            {
                string[] rows = File.ReadAllLines(parsed.GetValue(Data)!);
                SvgChart.Save(Draw(options, rows), options.Output);
                return 0;
            }
            catch (Exception failed) when (failed is IOException or UnauthorizedAccessException or FormatException or ArgumentException)
            {
                parsed.InvocationConfiguration.Error.WriteLine($"eventloop plot: {failed.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>The chart the CSV <paramref name="rows"/> (header first) describe.</summary>
    public static XDocument Draw(PlotOptions options, IReadOnlyList<string> rows)
    {
        List<(string A, string B, string C)> records = [.. rows.Skip(1).Select((row, i) => Fields(row, i + 2)).OfType<(string, string, string)>()];
        if (options.Chart == "bars")
        {
            List<string> categories = [.. records.Select(r => r.A).Distinct()];
            var series = records.Select(r => r.B).Distinct()
                .Select(name => (name, (IReadOnlyList<double>)[.. categories.Select(c => Value(BarValue(records, c, name)))]))
                .ToList();
            return SvgChart.Bars(options.Title, options.YTitle, categories, series, options.Reference);
        }
        List<Series> lines = [.. records.GroupBy(r => r.A).Select(g => new Series(g.Key, [.. g.Select(r => (Value(r.B), Value(r.C)))]))];
        return SvgChart.Lines(options.Title, new Axis(options.XTitle, options.LogX), new Axis(options.YTitle), lines);
    }

    private static string BarValue(List<(string A, string B, string C)> records, string category, string series) =>
        records.FirstOrDefault(r => r.A == category && r.B == series).C
            ?? throw new FormatException($"no value for category '{category}', series '{series}'");

    private static (string, string, string)? Fields(string row, int lineNumber)
    {
        if (string.IsNullOrWhiteSpace(row))
            return null;
        string[] fields = row.Split(',');
        return fields.Length == 3
            ? (fields[0].Trim(), fields[1].Trim(), fields[2].Trim())
            : throw new FormatException($"line {lineNumber}: expected 3 comma-separated fields, got {fields.Length}: '{row}'");
    }

    private static double Value(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            ? value : throw new FormatException($"'{text}' is not a number");

    private static string Chart(string value) =>
        value is "lines" or "bars" ? value : throw new FormatException("use lines or bars");
}
