using System.Collections;
using System.CommandLine;
using System.CommandLine.Parsing;

namespace EventLoop.Cli.CommandLine;

/// <summary>
/// The options of one command, each a row that sets one field of the immutable record
/// <typeparamref name="TRecord"/>: adding an option is one <see cref="Add{T}"/> line in the table.
/// Options left out keep the record's defaults, which help shows as "(default …)" from a fresh record.
/// Built once and read only afterwards.
/// </summary>
internal sealed class OptionTable<TRecord>(TRecord defaults) : IEnumerable<Option>
{
    private readonly List<(Option Option, Func<ParseResult, TRecord, TRecord> Apply)> _rows = [];

    /// <summary>
    /// Adds an option. <paramref name="names"/> is the name then its aliases, space-separated ("--connections -c");
    /// <paramref name="shownDefault"/> reads what help shows from the defaults; <paramref name="parse"/> is one
    /// of <see cref="OptionValues"/>' parsers; <paramref name="choices"/>, when the values are a fixed set, are
    /// what tab completion offers.
    /// </summary>
    public void Add<T>(string names, string valueName, string description, Func<TRecord, object?> shownDefault,
        Func<string, T> parse, Func<TRecord, T, TRecord> apply, string[]? choices = null)
    {
        string[] split = names.Split(' ');
        // Values arrive wrapped: the library treats an Option<bool> as a flag, but --protected-mode takes yes or no.
        var option = new Option<Parsed<T>>(split[0], split[1..])
        {
            HelpName = valueName,
            Description = $"{description} (default {OptionValues.Show(shownDefault(defaults))})",
            CustomParser = result => ParseOrReport(result, split[0], parse),
        };
        if (choices is not null)
            option.CompletionSources.Add(choices);
        _rows.Add((option, (parsed, record) => parsed.GetResult(option) is null ? record : apply(record, parsed.GetValue(option).Value)));
    }

    /// <summary>Adds an option that takes no value: given, it applies <paramref name="apply"/>; help shows it as off by default.</summary>
    public void Add(string names, string description, Func<TRecord, TRecord> apply)
    {
        string[] split = names.Split(' ');
        var option = new Option<bool>(split[0], split[1..]) { Description = $"{description} (default off)", Arity = ArgumentArity.Zero };
        _rows.Add((option, (parsed, record) => parsed.GetValue(option) ? apply(record) : record));
    }

    /// <summary>The record the command line describes: the defaults with every given option applied in table order.</summary>
    public TRecord Bind(ParseResult parsed) => _rows.Aggregate(defaults, (record, row) => row.Apply(parsed, record));

    public IEnumerator<Option> GetEnumerator() => _rows.Select(r => r.Option).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private static Parsed<T> ParseOrReport<T>(ArgumentResult result, string name, Func<string, T> parse)
    {
        string text = result.Tokens[0].Value;
        try
        {
            return new Parsed<T>(parse(text));
        }
        catch (Exception invalid) when (invalid is FormatException or OverflowException or IOException or UnauthorizedAccessException)
        {
            result.AddError($"{name} '{text}': {invalid.Message}");
            return default;
        }
    }

    private readonly record struct Parsed<T>(T Value);
}
