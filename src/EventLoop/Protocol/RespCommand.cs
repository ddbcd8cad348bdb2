using System.Text;

namespace EventLoop.Protocol;

/// <summary>
/// A parsed request: a view over the parsed buffer and over the parser's scratch space (where unescaped
/// inline arguments live). Valid until the next <see cref="RespRequestParser.TryParse(ReadOnlySpan{byte}, bool, out RespCommand, out int)"/> on the same
/// parser, or until the buffer changes.
/// </summary>
public readonly ref struct RespCommand
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly ReadOnlySpan<byte> _scratch;
    private readonly ReadOnlySpan<ArgRange> _args;

    internal RespCommand(ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> scratch, ReadOnlySpan<ArgRange> args)
    {
        _buffer = buffer;
        _scratch = scratch;
        _args = args;
    }

    /// <summary>Number of arguments, the command name included; 0 for an empty request the caller skips.</summary>
    public int Count => _args.Length;

    /// <summary>The bytes of argument <paramref name="index"/> (0 is the command name).</summary>
    /// <exception cref="IndexOutOfRangeException"><paramref name="index"/> is not below <see cref="Count"/>.</exception>
    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            ArgRange arg = _args[index];
            ReadOnlySpan<byte> source = arg.InScratch ? _scratch : _buffer;
            return source.Slice(arg.Start, arg.Length);
        }
    }

    /// <summary>
    /// True when argument <paramref name="index"/> equals <paramref name="upperCaseName"/> ignoring ASCII case
    /// (e.g. <c>command.Is(0, "PING"u8)</c>); false when there is no such argument.
    /// </summary>
    public bool Is(int index, ReadOnlySpan<byte> upperCaseName) =>
        (uint)index < (uint)_args.Length && Ascii.EqualsIgnoreCase(this[index], upperCaseName);
}

/// <summary>Where one argument lives: a slice of the request buffer, or of the parser's scratch space.</summary>
internal readonly record struct ArgRange(int Start, int Length, bool InScratch);
