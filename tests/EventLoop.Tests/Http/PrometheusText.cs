using System.Globalization;
using System.Text.RegularExpressions;

namespace EventLoop.Tests.Http;

/// <summary>
/// A strict reader of the Prometheus text exposition format (0.0.4): <c># HELP</c>, <c># TYPE</c> and
/// sample lines <c>name{label="value",…} number [timestamp]</c>. Any other line fails the parse, as does
/// a sample of a family whose TYPE came after it or a TYPE given twice.
/// </summary>
internal sealed partial class PrometheusText
{
    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public Dictionary<string, string> TypeOf { get; } = [];

    public Dictionary<string, string> HelpOf { get; } = [];

    public List<Sample> Samples { get; } = [];

    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    public static PrometheusText Parse(string text)
    {
        var parsed = new PrometheusText();
        int number = 0;
        foreach (string line in text.Split('\n'))
        {
            number++;
            if (line.Length == 0)
                continue;
            Match match;
            if ((match = HelpLine().Match(line)).Success)
                parsed.HelpOf[match.Groups["name"].Value] = match.Groups["help"].Value;
            else if ((match = TypeLine().Match(line)).Success)
            {
                string name = match.Groups["name"].Value, type = match.Groups["type"].Value;
                if (!Types.Contains(type))
                    throw new FormatException($"line {number}: unknown type '{type}'");
                if (!parsed.TypeOf.TryAdd(name, type))
                    throw new FormatException($"line {number}: second TYPE for {name}");
                if (parsed.Samples.Any(s => Family(s.Name, type) == name))
                    throw new FormatException($"line {number}: TYPE for {name} after its samples");
            }
            else if (line.StartsWith('#'))
                continue; // a comment
            else if ((match = SampleLine().Match(line)).Success)
            {
                var labels = new Dictionary<string, string>();
                foreach (Match label in LabelPair().Matches(match.Groups["labels"].Value))
                    labels.Add(label.Groups["key"].Value, Regex.Unescape(label.Groups["value"].Value));
                parsed.Samples.Add(new Sample(match.Groups["name"].Value, labels, ParseValue(match.Groups["value"].Value, number)));
            }
            else
                throw new FormatException($"line {number} is not HELP, TYPE, a comment or a sample: '{line}'");
        }
        return parsed;
    }

    /// <summary>The one sample of <paramref name="name"/> whose labels include <paramref name="labels"/>.</summary>
    public double Value(string name, params (string Key, string Value)[] labels)
    {
        Sample[] found = [.. Samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out string? v) && v == l.Value))];
        if (found.Length != 1)
            throw new Xunit.Sdk.XunitException($"{found.Length} samples of {name} {string.Join(",", labels)}; names: {string.Join(" ", Samples.Select(s => s.Name).Distinct())}");
        return found[0].Value;
    }

    private static string Family(string sample, string type) =>
        type is "histogram" or "summary" ? Regex.Replace(sample, "_(bucket|sum|count)$", "") : sample;

    private static double ParseValue(string text, int line) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            ? value : throw new FormatException($"line {line}: '{text}' is not a number"),
    };

    [GeneratedRegex(@"^# HELP (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<help>.*)$")]
    private static partial Regex HelpLine();

    [GeneratedRegex(@"^# TYPE (?<name>[a-zA-Z_:][a-zA-Z0-9_:]*) (?<type>\w+)$")]
    private static partial Regex TypeLine();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*=""([^""\\]|\\.)*"",?)*)\})? (?<value>\S+)( -?\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>([^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();
}
