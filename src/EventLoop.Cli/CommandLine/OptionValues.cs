using System.Globalization;

namespace EventLoop.Cli.CommandLine;

/// <summary>
/// The value syntaxes every command shares (N, SIZE, TIME, yes|no), parsed and shown the same way everywhere.
/// A parser throws <see cref="FormatException"/> with a message that completes "--name 'value': …".
/// </summary>
internal static class OptionValues
{
    /// <summary>What the help of a command that takes these syntaxes says about them.</summary>
    public const string Syntax =
        "N is a whole number (1_000 is 1000). SIZE is a byte count with an optional k, m or g suffix (powers of 1024).\n" +
        "TIME is a number of seconds, or a number with ms, s, m, h or d (500ms, 2.5s, 1m).";

    public static string Text(string value) => value;

    public static int Whole(string value) =>
        int.TryParse(value.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out int n)
            ? n : throw new FormatException("not a whole number");

    public static long LongWhole(string value) =>
        long.TryParse(value.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n)
            ? n : throw new FormatException("not a whole number");

    public static double Number(string value) =>
        double.TryParse(value.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double n)
            ? n : throw new FormatException("not a number");

    public static bool YesNo(string value) => value switch
    {
        "yes" => true,
        "no" => false,
        _ => throw new FormatException("use yes or no"),
    };

    /// <summary>An enum's members as the lowercase words an option takes (auto, yes, no), for help and completion.</summary>
    public static string[] Words<T>() where T : struct, Enum => [.. Enum.GetValues<T>().Select(Word)];

    /// <summary>The lowercase word for <paramref name="member"/>.</summary>
    public static string Word<T>(T member) where T : struct, Enum => member.ToString().ToLowerInvariant();

    /// <summary>The member whose <see cref="Word{T}(T)"/> is <paramref name="value"/>; "use a, b or c" otherwise.</summary>
    public static T ParseWord<T>(string value) where T : struct, Enum
    {
        foreach (T member in Enum.GetValues<T>())
        {
            if (Word(member) == value)
                return member;
        }
        string[] words = Words<T>();
        throw new FormatException($"use {string.Join(", ", words[..^1])} or {words[^1]}");
    }

    /// <summary>Parses 4096, 64k, 16m, 1g (powers of 1024; a trailing b is allowed: 64kb).</summary>
    public static long Size(string value)
    {
        string text = value.Trim().ToLowerInvariant().TrimEnd('b');
        long multiplier = text.EndsWith('k') ? 1L << 10 : text.EndsWith('m') ? 1L << 20 : text.EndsWith('g') ? 1L << 30 : 1;
        if (multiplier != 1)
            text = text[..^1];
        if (!long.TryParse(text.Replace("_", ""), NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) || n < 0)
            throw new FormatException("not a size (use e.g. 4096, 64k, 16m, 1g)");
        return n <= long.MaxValue / multiplier ? n * multiplier : throw new FormatException("too large");
    }

    /// <summary>A <see cref="Size"/> that must fit an int (buffer and argument limits).</summary>
    public static int SmallSize(string value) =>
        Size(value) is var n && n <= int.MaxValue ? (int)n : throw new FormatException("too large (at most 2g - 1)");

    /// <summary>Parses 10, 10s, 500ms, 2.5s, 1m, 1h or 7d; a plain number is seconds.</summary>
    public static TimeSpan Time(string value)
    {
        string text = value.Trim();
        (string digits, double unitSeconds) =
            text.EndsWith("ms", StringComparison.Ordinal) ? (text[..^2], 0.001)
            : text.EndsWith('s') ? (text[..^1], 1.0)
            : text.EndsWith('m') ? (text[..^1], 60.0)
            : text.EndsWith('h') ? (text[..^1], 3600.0)
            : text.EndsWith('d') ? (text[..^1], 86400.0)
            : (text, 1.0);
        return double.TryParse(digits, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n >= 0 && n * unitSeconds < 1e9
            ? TimeSpan.FromSeconds(n * unitSeconds)
            : throw new FormatException("not a time (use e.g. 10, 10s, 500ms, 1m)");
    }

    /// <summary>A default as help shows it: times in their largest whole unit, numbers invariant, null as none.</summary>
    public static string Show(object? value) => value switch
    {
        null => "none",
        string text => text,
        bool flag => flag ? "yes" : "no",
        TimeSpan time => ShowTime(time),
        IFormattable number => number.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>A byte count as help shows it: in the largest unit that divides it (64m, not 67108864).</summary>
    public static string ShowSize(long bytes) =>
        bytes == 0 ? "0"
        : bytes % (1L << 30) == 0 ? $"{bytes >> 30}g"
        : bytes % (1L << 20) == 0 ? $"{bytes >> 20}m"
        : bytes % (1L << 10) == 0 ? $"{bytes >> 10}k"
        : bytes.ToString(CultureInfo.InvariantCulture);

    private static string ShowTime(TimeSpan time) =>
        time == TimeSpan.Zero ? "0"
        : time.Ticks % TimeSpan.TicksPerDay == 0 ? $"{time.TotalDays:0}d"
        : time.Ticks % TimeSpan.TicksPerHour == 0 ? $"{time.TotalHours:0}h"
        : time.Ticks % TimeSpan.TicksPerMinute == 0 ? $"{time.TotalMinutes:0}m"
        : time.Ticks % TimeSpan.TicksPerSecond == 0 ? $"{time.TotalSeconds:0}s"
        : $"{time.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)}ms";
}
