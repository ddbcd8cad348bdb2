using System.Globalization;
using System.Xml.Linq;

namespace EventLoop.Cli.Plotting;

/// <summary>One named line of a line chart: its points in data units.</summary>
internal sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>A tick on an axis: where (data units) and what it says.</summary>
internal readonly record struct Tick(double Value, string Label);

/// <summary>
/// An axis: its title, whether it is logarithmic, and optional ticks of its own (the percentile axis names
/// its ticks 90%, 99%, 99.9%…); without them, ticks fall on round numbers (1, 2, 5 × 10ⁿ, or powers of 10).
/// </summary>
internal sealed record Axis(string Title, bool Logarithmic = false, IReadOnlyList<Tick>? Ticks = null);

/// <summary>
/// The project's one chart writer: line charts and grouped bar charts as standalone SVG, with axes, grid,
/// ticks, a title and a legend. Built with <see cref="System.Xml.Linq"/>, so names are escaped and the
/// output is well-formed XML. Each series is one <c>polyline</c> (lines) or one <c>g</c> of <c>rect</c>s (bars),
/// with class <c>series</c> and a <c>data-series</c> attribute holding its name.
/// </summary>
internal static class SvgChart
{
    private const double Width = 760, Height = 440, Left = 72, Right = 190, Top = 44, Bottom = 58;
    private const double PlotWidth = Width - Left - Right, PlotHeight = Height - Top - Bottom;
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";

    // Tableau 10: distinguishable in print and for the common colour-vision deficiencies.
    private static readonly string[] Palette =
        ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

    /// <summary>A line chart of <paramref name="series"/>, one coloured line with point markers each.</summary>
    public static XDocument Lines(string title, Axis x, Axis y, IReadOnlyList<Series> series)
    {
        var points = series.SelectMany(s => s.Points).ToList();
        if (points.Count == 0)
            throw new ArgumentException("nothing to plot: every series is empty");
        Scale xs = Scale.For(x, points.Select(p => p.X), includeZero: false);
        Scale ys = Scale.For(y, points.Select(p => p.Y), includeZero: !y.Logarithmic);
        XElement svg = Frame(title, x.Title, y.Title, xs, ys);
        for (int i = 0; i < series.Count; i++)
        {
            string colour = Palette[i % Palette.Length];
            var coordinates = series[i].Points.Select(p => (X: Left + xs.Map(p.X) * PlotWidth, Y: Top + (1 - ys.Map(p.Y)) * PlotHeight)).ToList();
            var line = new XElement(Svg + "g", new XAttribute("class", "series"), new XAttribute("data-series", series[i].Name),
                new XElement(Svg + "title", series[i].Name),
                new XElement(Svg + "polyline", new XAttribute("fill", "none"), new XAttribute("stroke", colour), new XAttribute("stroke-width", 2),
                    new XAttribute("points", string.Join(' ', coordinates.Select(c => $"{N(c.X)},{N(c.Y)}")))));
            if (coordinates.Count <= 40) // markers help to read a few measured points, not a dense spectrum
                line.Add(coordinates.Select(c => new XElement(Svg + "circle", new XAttribute("cx", N(c.X)), new XAttribute("cy", N(c.Y)),
                    new XAttribute("r", 3), new XAttribute("fill", colour))));
            svg.Add(line);
        }
        svg.Add(Legend(series.Select(s => s.Name).ToList()));
        return new XDocument(svg);
    }

    /// <summary>
    /// A grouped bar chart: for each category, one bar per series. <paramref name="reference"/> draws a dashed
    /// line across (1.0 on a chart of ratios).
    /// </summary>
    public static XDocument Bars(string title, string yTitle, IReadOnlyList<string> categories,
        IReadOnlyList<(string Name, IReadOnlyList<double> Values)> series, double? reference = null)
    {
        if (categories.Count == 0 || series.Count == 0)
            throw new ArgumentException("nothing to plot: no categories or no series");
        if (series.Any(s => s.Values.Count != categories.Count))
            throw new ArgumentException("every series needs one value per category");
        IEnumerable<double> values = series.SelectMany(s => s.Values).Concat(reference is double r ? [r] : []);
        Scale ys = Scale.For(new Axis(yTitle), values, includeZero: true);
        XElement svg = Frame(title, "", yTitle, xs: null, ys);
        double slot = PlotWidth / categories.Count;
        double barWidth = slot * 0.8 / series.Count;
        for (int c = 0; c < categories.Count; c++)
            svg.Add(WrappedText(Left + (c + 0.5) * slot, Top + PlotHeight + 16, categories[c], (int)(slot / 6.5)));
        for (int s = 0; s < series.Count; s++)
        {
            var group = new XElement(Svg + "g", new XAttribute("class", "series"), new XAttribute("data-series", series[s].Name),
                new XAttribute("fill", Palette[s % Palette.Length]), new XElement(Svg + "title", series[s].Name));
            for (int c = 0; c < categories.Count; c++)
            {
                double top = Top + (1 - ys.Map(series[s].Values[c])) * PlotHeight, zero = Top + (1 - ys.Map(0)) * PlotHeight;
                group.Add(new XElement(Svg + "rect", new XAttribute("x", N(Left + c * slot + slot * 0.1 + s * barWidth)),
                    new XAttribute("y", N(Math.Min(top, zero))), new XAttribute("width", N(barWidth)), new XAttribute("height", N(Math.Abs(zero - top))),
                    new XElement(Svg + "title", $"{categories[c]}, {series[s].Name}: {series[s].Values[c].ToString("0.###", CultureInfo.InvariantCulture)}")));
            }
            svg.Add(group);
        }
        if (reference is double line)
        {
            double at = Top + (1 - ys.Map(line)) * PlotHeight;
            svg.Add(new XElement(Svg + "line", new XAttribute("x1", Left), new XAttribute("x2", Left + PlotWidth), new XAttribute("y1", N(at)),
                new XAttribute("y2", N(at)), new XAttribute("stroke", "#333"), new XAttribute("stroke-dasharray", "6 4")));
        }
        svg.Add(Legend(series.Select(s => s.Name).ToList()));
        return new XDocument(svg);
    }

    /// <summary>Writes <paramref name="chart"/> to <paramref name="path"/>, creating its folder if needed.</summary>
    public static void Save(XDocument chart, string path)
    {
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is string folder)
            Directory.CreateDirectory(folder);
        chart.Save(path);
    }

    /// <summary>The canvas: background, title, axis titles, grid and ticks (x ones only when <paramref name="xs"/> is given).</summary>
    private static XElement Frame(string title, string xTitle, string yTitle, Scale? xs, Scale ys)
    {
        var svg = new XElement(Svg + "svg", new XAttribute("width", Width), new XAttribute("height", Height),
            new XAttribute("viewBox", $"0 0 {Width} {Height}"), new XAttribute("font-family", "sans-serif"),
            new XElement(Svg + "rect", new XAttribute("width", Width), new XAttribute("height", Height), new XAttribute("fill", "white")),
            Text(Left + PlotWidth / 2, 24, title, "middle", 15, "bold"),
            Text(Left + PlotWidth / 2, Height - 12, xTitle, "middle", 12));
        svg.Add(new XElement(Svg + "text", new XAttribute("transform", $"translate(18 {N(Top + PlotHeight / 2)}) rotate(-90)"),
            new XAttribute("text-anchor", "middle"), new XAttribute("font-size", 12), yTitle));
        foreach (Tick tick in ys.Ticks)
        {
            double at = Top + (1 - ys.Map(tick.Value)) * PlotHeight;
            svg.Add(GridLine(Left, at, Left + PlotWidth, at), Text(Left - 6, at + 4, tick.Label, "end", 11));
        }
        if (xs is not null)
            foreach (Tick tick in xs.Ticks)
            {
                double at = Left + xs.Map(tick.Value) * PlotWidth;
                svg.Add(GridLine(at, Top, at, Top + PlotHeight), Text(at, Top + PlotHeight + 16, tick.Label, "middle", 11));
            }
        svg.Add(new XElement(Svg + "rect", new XAttribute("x", Left), new XAttribute("y", Top), new XAttribute("width", PlotWidth),
            new XAttribute("height", PlotHeight), new XAttribute("fill", "none"), new XAttribute("stroke", "#333")));
        return svg;
    }

    private static XElement Legend(IReadOnlyList<string> names)
    {
        var legend = new XElement(Svg + "g", new XAttribute("class", "legend"));
        for (int i = 0; i < names.Count; i++)
        {
            double y = Top + 10 + i * 20;
            legend.Add(new XElement(Svg + "rect", new XAttribute("x", Width - Right + 16), new XAttribute("y", N(y - 9)), new XAttribute("width", 14),
                new XAttribute("height", 10), new XAttribute("fill", Palette[i % Palette.Length])),
                Text(Width - Right + 36, y, names[i], "start", 12));
        }
        return legend;
    }

    private static XElement GridLine(double x1, double y1, double x2, double y2) =>
        new(Svg + "line", new XAttribute("x1", N(x1)), new XAttribute("y1", N(y1)), new XAttribute("x2", N(x2)), new XAttribute("y2", N(y2)),
            new XAttribute("stroke", "#ddd"));

    private static XElement Text(double x, double y, string text, string anchor, int size, string weight = "normal") =>
        new(Svg + "text", new XAttribute("x", N(x)), new XAttribute("y", N(y)), new XAttribute("text-anchor", anchor),
            new XAttribute("font-size", size), new XAttribute("font-weight", weight), text);

    /// <summary>Centred text broken at spaces into lines of about <paramref name="columns"/> characters (category labels under bars).</summary>
    private static XElement WrappedText(double x, double y, string text, int columns)
    {
        var lines = new List<string>();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (lines.Count > 0 && lines[^1].Length + 1 + word.Length <= columns)
                lines[^1] += " " + word;
            else
                lines.Add(word);
        }
        XElement label = Text(x, y, "", "middle", 11);
        label.Add(lines.Select((line, i) => new XElement(Svg + "tspan", new XAttribute("x", N(x)), new XAttribute("dy", i == 0 ? 0 : 13), line)));
        return label;
    }

    private static string N(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>Maps data values to 0..1 along an axis, linearly or by log10, and chooses its ticks.</summary>
    private sealed class Scale
    {
        private readonly double _low, _high;
        private readonly bool _log;

        private Scale(double low, double high, bool log, IReadOnlyList<Tick> ticks)
        {
            (_low, _high, _log, Ticks) = (low, high, log, ticks);
        }

        public IReadOnlyList<Tick> Ticks { get; }

        public static Scale For(Axis axis, IEnumerable<double> values, bool includeZero)
        {
            var all = values.Concat(axis.Ticks?.Select(t => t.Value) ?? []).ToList();
            if (axis.Logarithmic)
            {
                if (all.Any(v => v <= 0))
                    throw new ArgumentException($"axis '{axis.Title}' is logarithmic: every value must be positive");
                // Given ticks bound the axis (the percentile axis ends on a tick); otherwise a margin around the data.
                double low = axis.Ticks is null ? all.Min() / 1.25 : all.Min(), high = axis.Ticks is null ? all.Max() * 1.25 : all.Max();
                if (high <= low)
                    (low, high) = (low / 10, high * 10);
                IReadOnlyList<Tick> ticks = axis.Ticks ?? [.. RoundValues(low, high).Select(v => new Tick(v, Label(v)))];
                return new Scale(Math.Log10(low), Math.Log10(high), log: true, ticks);
            }
            double min = includeZero ? Math.Min(0, all.Min()) : all.Min(), max = all.Max();
            if (max <= min)
                max = min + 1;
            double step = NiceStep((max - min) / 5);
            double from = Math.Floor(min / step) * step, to = Math.Ceiling(max / step) * step;
            IReadOnlyList<Tick> linear = axis.Ticks ??
                [.. Enumerable.Range(0, (int)Math.Round((to - from) / step) + 1).Select(i => from + i * step).Select(v => new Tick(v, Label(v)))];
            return new Scale(from, to, log: false, linear);
        }

        public double Map(double value) => ((_log ? Math.Log10(value) : value) - _low) / (_high - _low);

        /// <summary>1, 2 and 5 × 10ⁿ between <paramref name="low"/> and <paramref name="high"/>: a log axis's ticks.</summary>
        private static IEnumerable<double> RoundValues(double low, double high)
        {
            for (double decade = Math.Pow(10, Math.Floor(Math.Log10(low))); decade <= high; decade *= 10)
                foreach (double v in new[] { decade, 2 * decade, 5 * decade })
                    if (v >= low && v <= high)
                        yield return v;
        }

        private static double NiceStep(double rough)
        {
            double magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
            double fraction = rough / magnitude;
            return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
        }

        private static string Label(double value) =>
            Math.Abs(value) >= 1000 && value % 1000 == 0
                ? (value / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k"
                : value.ToString("0.###", CultureInfo.InvariantCulture);
    }
}
