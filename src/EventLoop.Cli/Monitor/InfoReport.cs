using System.Globalization;

namespace EventLoop.Cli.Monitor;

/// <summary>One <c># Section</c> of an INFO reply and its <c>key:value</c> lines, in the server's order.</summary>
internal sealed record InfoSection(string Name, IReadOnlyList<KeyValuePair<string, string>> Fields);

/// <summary>An INFO reply, parsed: sections in order, fields looked up by section and name. Immutable.</summary>
internal sealed class InfoReport
{
    private InfoReport(IReadOnlyList<InfoSection> sections) => Sections = sections;

    public IReadOnlyList<InfoSection> Sections { get; }

    /// <summary>Parses Redis's INFO text: <c># Name</c> starts a section, <c>key:value</c> lines fill it, blank lines are skipped.</summary>
    public static InfoReport Parse(string text)
    {
        var sections = new List<InfoSection>();
        List<KeyValuePair<string, string>>? fields = null;
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.StartsWith('#'))
            {
                fields = [];
                sections.Add(new InfoSection(line.TrimStart('#', ' '), fields));
            }
            else if (line.IndexOf(':') is > 0 and int colon)
            {
                if (fields is null)
                    sections.Add(new InfoSection("", fields = []));
                fields.Add(new(line[..colon], line[(colon + 1)..]));
            }
        }
        return new InfoReport(sections);
    }

    /// <summary>The value of <paramref name="field"/> in <paramref name="section"/> (case-insensitive), or null when absent.</summary>
    public string? Get(string section, string field) =>
        Sections.FirstOrDefault(s => s.Name.Equals(section, StringComparison.OrdinalIgnoreCase))?.Fields
            .FirstOrDefault(f => f.Key == field).Value;

    /// <summary>The field as a number, or null when absent or not numeric.</summary>
    public double? Number(string section, string field) =>
        double.TryParse(Get(section, field), NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? value : null;
}
