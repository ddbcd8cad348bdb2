using System.Buffers.Text;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Queueing;

namespace EventLoop.Commands;

/// <summary>
/// Parses the options of SUBMIT (and the SUBMIT options of SCHEDULE ADD): keywords in any order, any case,
/// each at most once, then <c>ARGS</c> and the task's arguments. Every mistake is named in the error text
/// and nothing is changed.
/// </summary>
internal static class SubmitOptions
{
    public const int MaxRetries = 1_000_000;
    public const int MaxNameBytes = 128;
    public const int MaxKeyBytes = 512;
    public const string BadQueueName = "ERR QUEUE must be 1 to 128 printable characters without spaces";
    public const int DefaultBackoffMs = 1000;
    public const int DefaultResultTtlSeconds = 3600;
    /// <summary>Ten years: results kept longer than that are a mistake, not a setting.</summary>
    public const int MaxResultTtlSeconds = 315_360_000;

    [Flags]
    private enum Option
    {
        None = 0,
        Queue = 1,
        Priority = 2,
        Delay = 4,
        At = 8,
        Retries = 16,
        Backoff = 32,
        Timeout = 64,
        Key = 128,
        ResultTtl = 256,
    }

    private static readonly (Option Option, string Name, byte[] Word)[] Words =
        [.. new[] { (Option.Queue, "QUEUE"), (Option.Priority, "PRIORITY"), (Option.Delay, "DELAY"), (Option.At, "AT"),
                    (Option.Retries, "RETRIES"), (Option.Backoff, "BACKOFF"), (Option.Timeout, "TIMEOUT"), (Option.Key, "KEY"),
                    (Option.ResultTtl, "RESULT-TTL") }
            .Select(w => (w.Item1, w.Item2, Encoding.ASCII.GetBytes(w.Item2)))];

    /// <summary>Options a schedule's firings cannot use: each firing's time and id are the schedule's.</summary>
    private const Option NotInSchedules = Option.Delay | Option.At | Option.Key;

    /// <summary>
    /// Fills <paramref name="spec"/> from <paramref name="command"/>'s words starting at <paramref name="first"/>;
    /// returns null on success, else the error text (without its leading '-').
    /// </summary>
    public static string? Parse(in RespCommand command, int first, bool forSchedule, long nowMs, ref SubmitSpec spec)
    {
        spec.BackoffMs = DefaultBackoffMs;
        spec.ResultTtlSeconds = DefaultResultTtlSeconds;
        spec.Arguments = PackedArguments.None;
        Option seen = Option.None;
        for (int i = first; i < command.Count; i += 2)
        {
            if (command.Is(i, "ARGS"u8))
            {
                spec.Arguments = PackedArguments.Pack(command, i + 1);
                break;
            }
            (Option option, string name) = Recognise(command[i]);
            if (option == Option.None)
                return HasArgsAfter(command, i) ? $"ERR unknown option '{Printable.Of(command[i])}'" : "ERR syntax error: ARGS expected";
            if (forSchedule && (option & NotInSchedules) != 0)
                return $"ERR option '{name}' is not allowed in a schedule";
            if ((seen & option) != 0)
                return $"ERR option '{name}' given twice";
            seen |= option;
            if (i + 1 >= command.Count)
                return $"ERR syntax error: {name} needs a value";
            if (Apply(option, name, command[i + 1], nowMs, ref spec) is { } invalid)
                return invalid;
        }
        if ((seen & (Option.Delay | Option.At)) == (Option.Delay | Option.At))
            return "ERR DELAY and AT cannot be combined";
        return null;
    }

    /// <summary>Checks a task or schedule name: 1..128 printable ASCII bytes without spaces.</summary>
    public static bool IsName(ReadOnlySpan<byte> name) =>
        name.Length is > 0 and <= MaxNameBytes && !name.ContainsAnyExceptInRange((byte)'!', (byte)'~');

    private static string? Apply(Option option, string name, ReadOnlySpan<byte> value, long nowMs, ref SubmitSpec spec)
    {
        switch (option)
        {
            case Option.Queue:
                if (!IsName(value))
                    return BadQueueName;
                spec.Queue = value;
                return null;
            case Option.Key:
                if (value.Length is 0 or > MaxKeyBytes)
                    return "ERR KEY must be 1 to 512 bytes";
                // Keys are kept as text: invalid UTF-8 would decode to U+FFFD, so two different keys would be one,
                // and PostgreSQL text cannot hold a NUL (one such key would fail every SUBMIT in its statement).
                if (!System.Text.Unicode.Utf8.IsValid(value) || value.Contains((byte)0))
                    return "ERR KEY must be UTF-8 text without NUL bytes";
                spec.Key = value;
                return null;
            case Option.Priority:
                if (!TryNumber(value, out long priority) || priority is < 0 or >= TaskQueue.Priorities)
                    return "ERR PRIORITY must be an integer from 0 to 9";
                spec.Priority = (int)priority;
                return null;
        }
        if (!TryNumber(value, out long number) || number < 0)
            return option == Option.Backoff ? "ERR BACKOFF must be a positive integer" : $"ERR {name} must be a non-negative integer";
        switch (option)
        {
            case Option.Delay:
                if (number > TaskStore.LatestUnixMs - nowMs)
                    return "ERR DELAY is too far in the future";
                spec.RunAtMs = nowMs + number;
                return null;
            case Option.At:
                if (number > TaskStore.LatestUnixMs)
                    return "ERR AT is too far in the future";
                spec.RunAtMs = number;
                return null;
            case Option.Retries:
                if (number > MaxRetries)
                    return $"ERR RETRIES must be at most {MaxRetries}";
                spec.Retries = (int)number;
                return null;
            case Option.Backoff:
                if (number == 0)
                    return "ERR BACKOFF must be a positive integer";
                if (number > TaskStore.MaxBackoffMs)
                    return $"ERR BACKOFF must be at most {TaskStore.MaxBackoffMs}";
                spec.BackoffMs = (int)number;
                return null;
            case Option.Timeout:
                if (number > int.MaxValue)
                    return $"ERR TIMEOUT must be at most {int.MaxValue}";
                spec.TimeoutMs = (int)number;
                return null;
            default: // result TTL
                if (number > MaxResultTtlSeconds)
                    return $"ERR RESULT-TTL must be at most {MaxResultTtlSeconds}";
                spec.ResultTtlSeconds = (int)number;
                return null;
        }
    }

    /// <summary>
    /// A plain decimal integer: optional '-', digits, nothing else. One past 64 bits saturates to long.MinValue or
    /// long.MaxValue, so that it meets the caller's range check ("at most N", "too far in the future") rather than
    /// being called not an integer.
    /// </summary>
    public static bool TryNumber(ReadOnlySpan<byte> text, out long value)
    {
        if (Utf8Parser.TryParse(text, out value, out int consumed) && consumed == text.Length && text.Length > 0 && text[0] != (byte)'+')
            return true;
        bool negative = text.Length > 1 && text[0] == (byte)'-';
        ReadOnlySpan<byte> digits = negative ? text[1..] : text;
        if (digits.IsEmpty || digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
            return false;
        value = negative ? long.MinValue : long.MaxValue;
        return true;
    }

    private static (Option Option, string Name) Recognise(ReadOnlySpan<byte> word)
    {
        foreach ((Option option, string name, byte[] known) in Words)
        {
            if (Ascii.EqualsIgnoreCase(word, known))
                return (option, name);
        }
        return (Option.None, "");
    }

    private static bool HasArgsAfter(in RespCommand command, int index)
    {
        for (int i = index + 1; i < command.Count; i++)
        {
            if (command.Is(i, "ARGS"u8))
                return true;
        }
        return false;
    }
}
