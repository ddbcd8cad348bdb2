using System.CommandLine;
using System.Globalization;
using EventLoop.Cli.CommandLine;

namespace EventLoop.Cli.Monitor;

/// <summary><c>eventloop info [section]</c>: a running server's INFO, one heading per section, keys and values aligned.</summary>
internal static class InfoCommand
{
    private static readonly OptionTable<MonitorOptions> Options = MonitorOptions.TargetOptions();

    private static readonly Argument<string?> Section = new("section")
    {
        Description = "only this section (server, clients, stats, reactor, queue, workers, tasks, memory, …); default: all",
        Arity = ArgumentArity.ZeroOrOne,
    };

    /// <summary>The <c>info</c> command.</summary>
    public static Command Create()
    {
        var command = new NotedCommand("info", "Prints a running server's INFO, section by section.", MonitorCommand.Notes)
            .WithOptions(Options);
        command.Add(Section);
        command.SetAction(parsed => MonitorCommand.Run(parsed, Options.Bind(parsed), async (client, output) =>
            output.Write(Format(InfoReport.Parse(await client.InfoAsync(parsed.GetValue(Section)).ConfigureAwait(false))))));
        return command;
    }

    /// <summary>Sections as headings, then their fields indented, keys padded to one column; byte counts also in MiB/GiB.</summary>
    public static string Format(InfoReport report)
    {
        int width = report.Sections.SelectMany(s => s.Fields).Select(f => f.Key.Length).DefaultIfEmpty(0).Max();
        var text = new StringWriter();
        foreach (InfoSection section in report.Sections)
        {
            if (text.GetStringBuilder().Length > 0)
                text.WriteLine();
            text.WriteLine(section.Name);
            foreach ((string key, string value) in section.Fields)
                text.WriteLine($"  {key.PadRight(width)}  {value}{InBinaryUnits(key, value)}");
        }
        return text.ToString();
    }

    private static string InBinaryUnits(string key, string value)
    {
        bool isBytes = key.EndsWith("_bytes", StringComparison.Ordinal) || key.StartsWith("used_memory", StringComparison.Ordinal);
        if (!isBytes || !long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long bytes) || bytes < 1 << 20)
            return "";
        return bytes >= 1L << 30
            ? string.Create(CultureInfo.InvariantCulture, $" ({bytes / (double)(1L << 30):0.0} GiB)")
            : string.Create(CultureInfo.InvariantCulture, $" ({bytes / (double)(1L << 20):0.0} MiB)");
    }
}
