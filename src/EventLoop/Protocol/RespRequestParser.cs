using System.Buffers;

namespace EventLoop.Protocol;

/// <summary>Outcome of one <see cref="RespRequestParser.TryParse(ReadOnlySpan{byte}, bool, out RespCommand, out int)"/> call.</summary>
public enum ParseStatus
{
    /// <summary>A whole request was parsed; the caller consumes its bytes.</summary>
    Complete,
    /// <summary>The buffer ends inside a request; retry once it holds <see cref="RespRequestParser.MinimumBytes"/>.</summary>
    Incomplete,
    /// <summary>The peer broke the protocol; reply <see cref="RespRequestParser.ErrorMessage"/> and close.</summary>
    Error,
}

/// <summary>
/// Decodes RESP2 requests: multibulk (<c>*n\r\n$len\r\nbytes\r\n…</c>) and Redis-style inline lines,
/// with the error messages Redis sends for malformed input.
/// </summary>
/// <remarks>
/// Owned by one thread (the reactor) and reused for every request. It keeps no state between calls: a
/// request is parsed from its first byte every time, and <see cref="MinimumBytes"/> tells the caller
/// when a retry can succeed, so a large argument is not re-parsed at every read. It only records offsets
/// into the buffer, never allocating what a header announces, and allocates nothing in steady state:
/// its argument array and inline scratch grow only when a request larger than any before arrives.
/// </remarks>
public sealed class RespRequestParser
{
    private const string InvalidMultibulkLength = "Protocol error: invalid multibulk length";
    private const string InvalidBulkLength = "Protocol error: invalid bulk length";
    private const string ExpectedCrlf = "Protocol error: expected CRLF after bulk string";
    private const string UnbalancedQuotes = "Protocol error: unbalanced quotes in request";
    private const string TooBigInline = "Protocol error: too big inline request";
    private const string UnauthenticatedMultibulkLength = "Protocol error: unauthenticated multibulk length";
    private const string UnauthenticatedBulkLength = "Protocol error: unauthenticated bulk length";

    // "$0\r\n\r\n": the smallest multibulk element, the per-argument lower bound of MinimumBytes.
    private const int SmallestElementBytes = 6;
    private const int InitialArgCapacity = 16;

    private static readonly SearchValues<byte> InlineTokenStops = SearchValues.Create(" \t\"'"u8);
    // Built on first use per byte so that reporting the error allocates only once per distinct byte.
    // Parsers on different threads share it: a race only builds the same string twice.
    private static readonly string?[] ExpectedDollarMessages = new string?[256];

    private ArgRange[] _args = new ArgRange[InitialArgCapacity];
    private int _argCount;
    private byte[] _scratch = [];
    private int _scratchLength;
    // Set per call: the peer has not authenticated yet, so the tighter pre-AUTH limits apply.
    private bool _unauthenticated;

    /// <summary>Creates a parser enforcing <paramref name="limits"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">
    /// MaxArgBytes is negative, MaxArgs, MaxInlineBytes or an unauthenticated limit is not positive, or
    /// MaxInlineBytes is int.MaxValue.
    /// </exception>
    public RespRequestParser(ProtocolLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfNegative(limits.MaxArgBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxArgs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxInlineBytes);
        ArgumentOutOfRangeException.ThrowIfEqual(limits.MaxInlineBytes, int.MaxValue);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxUnauthenticatedArgs);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limits.MaxUnauthenticatedBulkBytes);
        Limits = limits;
    }

    /// <summary>The limits this parser enforces.</summary>
    public ProtocolLimits Limits { get; }

    /// <summary>
    /// After <see cref="ParseStatus.Incomplete"/>: how many bytes the buffer must hold before a retry can
    /// succeed (always more than it held). A sound lower bound: for a bulk string whose header was read it is
    /// the exact end of that bulk, plus 6 bytes (<c>$0\r\n\r\n</c>) per argument still to come. 0 otherwise.
    /// </summary>
    public int MinimumBytes { get; private set; }

    /// <summary>After <see cref="ParseStatus.Error"/>: the reply text after <c>-ERR </c>; null otherwise.</summary>
    public string? ErrorMessage { get; private set; }

    /// <summary>
    /// Parses one request from the start of <paramref name="buffer"/>.
    /// <see cref="ParseStatus.Complete"/>: <paramref name="consumed"/> is the request's length and
    /// <paramref name="command"/> its arguments; an empty request (a blank inline line, <c>*0</c>, any
    /// negative count such as <c>*-1</c>) has <c>Count == 0</c> and is simply skipped.
    /// <see cref="ParseStatus.Incomplete"/> and <see cref="ParseStatus.Error"/>: <paramref name="consumed"/> is 0;
    /// see <see cref="MinimumBytes"/> and <see cref="ErrorMessage"/>. After an error the caller closes the connection.
    /// </summary>
    public ParseStatus TryParse(ReadOnlySpan<byte> buffer, out RespCommand command, out int consumed) =>
        TryParse(buffer, authenticated: true, out command, out consumed);

    /// <summary>
    /// As <see cref="TryParse(ReadOnlySpan{byte}, out RespCommand, out int)"/>; when <paramref name="authenticated"/>
    /// is false the peer still owes a password, and a count over <see cref="ProtocolLimits.MaxUnauthenticatedArgs"/>
    /// or a bulk or inline line over <see cref="ProtocolLimits.MaxUnauthenticatedBulkBytes"/> is an error (Redis's
    /// <c>unauthenticated multibulk length</c> / <c>unauthenticated bulk length</c>, and <c>too big inline request</c>),
    /// so such a peer can make the server buffer no more than one small request.
    /// </summary>
    public ParseStatus TryParse(ReadOnlySpan<byte> buffer, bool authenticated, out RespCommand command, out int consumed)
    {
        _unauthenticated = !authenticated;
        _argCount = 0;
        _scratchLength = 0;
        MinimumBytes = 0;
        ErrorMessage = null;

        ParseStatus status;
        if (buffer.IsEmpty)
        {
            consumed = 0;
            status = NeedMore(1, buffer.Length);
        }
        else
        {
            status = buffer[0] == '*' ? ParseMultibulk(buffer, out consumed) : ParseInline(buffer, out consumed);
        }

        command = status == ParseStatus.Complete
            ? new RespCommand(buffer, _scratch.AsSpan(0, _scratchLength), _args.AsSpan(0, _argCount))
            : default;
        return status;
    }

    private ParseStatus ParseMultibulk(ReadOnlySpan<byte> buffer, out int consumed)
    {
        consumed = 0;
        switch (ReadHeaderNumber(buffer[1..], Limits.MaxArgs, allowNegative: true, out int count, out int headerLength))
        {
            case NumberStatus.Incomplete: return NeedMore(buffer.Length + 1, buffer.Length);
            case NumberStatus.Invalid: return Fail(InvalidMultibulkLength);
        }

        if (_unauthenticated && count > Limits.MaxUnauthenticatedArgs)
        {
            return Fail(UnauthenticatedMultibulkLength);
        }

        int position = 1 + headerLength;
        for (int index = 0; index < count; index++)
        {
            ParseStatus status = ParseBulkString(buffer, ref position, argsAfter: count - index - 1);
            if (status != ParseStatus.Complete)
            {
                return status;
            }
        }

        consumed = position;
        return ParseStatus.Complete;
    }

    /// <summary>Parses one <c>$len\r\nbytes\r\n</c> element at <paramref name="position"/> and advances past it.</summary>
    private ParseStatus ParseBulkString(ReadOnlySpan<byte> buffer, ref int position, int argsAfter)
    {
        long bytesAfter = (long)argsAfter * SmallestElementBytes;
        if (position == buffer.Length)
        {
            return NeedMore(position + SmallestElementBytes + bytesAfter, buffer.Length);
        }

        if (buffer[position] != '$')
        {
            return Fail(ExpectedDollar(buffer[position]));
        }

        switch (ReadHeaderNumber(buffer[(position + 1)..], Limits.MaxArgBytes, allowNegative: false, out int length, out int headerLength))
        {
            case NumberStatus.Incomplete: return NeedMore(position + SmallestElementBytes + bytesAfter, buffer.Length);
            case NumberStatus.Invalid: return Fail(InvalidBulkLength);
        }

        if (_unauthenticated && length > Limits.MaxUnauthenticatedBulkBytes)
        {
            return Fail(UnauthenticatedBulkLength);
        }

        int payloadStart = position + 1 + headerLength;
        long elementEnd = (long)payloadStart + length + 2;
        if (elementEnd > buffer.Length)
        {
            return NeedMore(elementEnd + bytesAfter, buffer.Length);
        }

        if (!buffer.Slice(payloadStart + length, 2).SequenceEqual("\r\n"u8))
        {
            return Fail(ExpectedCrlf);
        }

        AddArg(new ArgRange(payloadStart, length, InScratch: false));
        position = (int)elementEnd;
        return ParseStatus.Complete;
    }

    private enum NumberStatus { Ok, Incomplete, Invalid }

    /// <summary>
    /// Reads the decimal that follows a '*' or '$' up to and including its CRLF. The number is checked
    /// byte by byte, so an oversize, zero-padded or non-numeric header is refused as soon as it is seen
    /// (after at most 12 bytes, 22 for a negative one), never waited on. With <paramref name="allowNegative"/>
    /// any number down to long.MinValue is accepted, as Redis's string2ll does, and reported as -1.
    /// </summary>
    private static NumberStatus ReadHeaderNumber(ReadOnlySpan<byte> line, int max, bool allowNegative, out int value, out int length)
    {
        value = 0;
        length = 0;
        bool negative = allowNegative && !line.IsEmpty && line[0] == '-';
        int firstDigit = negative ? 1 : 0;
        ulong limit = negative ? (ulong)long.MaxValue + 1 : (ulong)max;
        ulong number = 0;
        int i = firstDigit;
        for (; i < line.Length; i++)
        {
            uint digit = (uint)(line[i] - '0');
            if (digit > 9)
            {
                break;
            }

            if (number == 0 && (i > firstDigit || (negative && digit == 0)))
            {
                return NumberStatus.Invalid; // a leading zero, or "-0", refused like Redis's string2ll
            }

            if (digit > limit || number > (limit - digit) / 10)
            {
                return NumberStatus.Invalid; // over the limit, seen before it could overflow
            }

            number = number * 10 + digit;
        }

        if (i == line.Length)
        {
            return NumberStatus.Incomplete;
        }

        if (i == firstDigit || line[i] != '\r')
        {
            return NumberStatus.Invalid;
        }

        if (i + 1 == line.Length)
        {
            return NumberStatus.Incomplete;
        }

        if (line[i + 1] != '\n')
        {
            return NumberStatus.Invalid;
        }

        value = negative ? -1 : (int)number;
        length = i + 2;
        return NumberStatus.Ok;
    }

    private ParseStatus ParseInline(ReadOnlySpan<byte> buffer, out int consumed)
    {
        consumed = 0;
        int maxLine = _unauthenticated ? Math.Min(Limits.MaxInlineBytes, Limits.MaxUnauthenticatedBulkBytes) : Limits.MaxInlineBytes;
        int window = Math.Min(buffer.Length, maxLine + 1);
        int newline = buffer[..window].IndexOf((byte)'\n');
        if (newline < 0)
        {
            return buffer.Length > maxLine ? Fail(TooBigInline) : NeedMore(buffer.Length + 1, buffer.Length);
        }

        ReadOnlySpan<byte> line = buffer[..newline];
        if (!line.IsEmpty && line[^1] == '\r')
        {
            line = line[..^1];
        }

        ParseStatus status = SplitInlineArgs(line);
        if (status == ParseStatus.Complete)
        {
            consumed = newline + 1;
        }

        return status;
    }

    /// <summary>
    /// Splits an inline line on spaces and tabs. Plain arguments stay slices of the line; a quoted
    /// argument is unescaped into the scratch space (as Redis's sdssplitargs: a quote may open mid-token,
    /// and a closing quote must be followed by a blank or the end of the line).
    /// </summary>
    private ParseStatus SplitInlineArgs(ReadOnlySpan<byte> line)
    {
        int position = SkipBlanks(line, 0);
        while (position < line.Length)
        {
            int stop = line[position..].IndexOfAny(InlineTokenStops);
            int tokenEnd = stop < 0 ? line.Length : position + stop;
            if (tokenEnd == line.Length || IsBlank(line[tokenEnd]))
            {
                AddArg(new ArgRange(position, tokenEnd - position, InScratch: false));
                position = tokenEnd;
            }
            else if (!TryUnquoteToken(line, position, quoteAt: tokenEnd, out position))
            {
                return Fail(UnbalancedQuotes);
            }

            position = SkipBlanks(line, position);
        }

        return ParseStatus.Complete;
    }

    private bool TryUnquoteToken(ReadOnlySpan<byte> line, int tokenStart, int quoteAt, out int next)
    {
        // The unescaped arguments of a line are never longer than the line itself.
        EnsureScratchCapacity(line.Length);
        int argStart = _scratchLength;
        AppendScratch(line[tokenStart..quoteAt]);
        int closingQuote = line[quoteAt] == '"'
            ? UnescapeDoubleQuoted(line, quoteAt + 1)
            : UnescapeSingleQuoted(line, quoteAt + 1);
        next = closingQuote + 1;
        if (closingQuote < 0 || (next < line.Length && !IsBlank(line[next])))
        {
            return false;
        }

        AddArg(new ArgRange(argStart, _scratchLength - argStart, InScratch: true));
        return true;
    }

    /// <summary>Unescapes <c>\" \\ \n \r \t \b \a \xHH</c> (any other <c>\c</c> is c); returns the closing quote's index or -1.</summary>
    private int UnescapeDoubleQuoted(ReadOnlySpan<byte> line, int position)
    {
        while (true)
        {
            int special = line[position..].IndexOfAny((byte)'\\', (byte)'"');
            if (special < 0)
            {
                return -1;
            }

            AppendScratch(line.Slice(position, special));
            position += special;
            if (line[position] == '"')
            {
                return position;
            }

            if (position + 1 == line.Length)
            {
                return -1;
            }

            position += AppendEscape(line, position);
        }
    }

    /// <summary>Appends the escape at <paramref name="backslash"/> and returns how many bytes it spans.</summary>
    private int AppendEscape(ReadOnlySpan<byte> line, int backslash)
    {
        byte kind = line[backslash + 1];
        if (kind == 'x' && backslash + 3 < line.Length)
        {
            int high = HexDigitValue(line[backslash + 2]);
            int low = HexDigitValue(line[backslash + 3]);
            if ((high | low) >= 0)
            {
                AppendScratch((byte)(high << 4 | low));
                return 4;
            }
        }

        AppendScratch(kind switch
        {
            (byte)'n' => (byte)'\n',
            (byte)'r' => (byte)'\r',
            (byte)'t' => (byte)'\t',
            (byte)'b' => (byte)'\b',
            (byte)'a' => (byte)'\a',
            _ => kind,
        });
        return 2;
    }

    /// <summary>Unescapes <c>\'</c> only (any other backslash is literal); returns the closing quote's index or -1.</summary>
    private int UnescapeSingleQuoted(ReadOnlySpan<byte> line, int position)
    {
        while (true)
        {
            int special = line[position..].IndexOfAny((byte)'\\', (byte)'\'');
            if (special < 0)
            {
                return -1;
            }

            AppendScratch(line.Slice(position, special));
            position += special;
            if (line[position] == '\'')
            {
                return position;
            }

            bool escapedQuote = position + 1 < line.Length && line[position + 1] == '\'';
            AppendScratch(escapedQuote ? (byte)'\'' : (byte)'\\');
            position += escapedQuote ? 2 : 1;
        }
    }

    /// <summary>The value of an ASCII hex digit, or -1.</summary>
    private static int HexDigitValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    private static bool IsBlank(byte c) => c is (byte)' ' or (byte)'\t';

    private static int SkipBlanks(ReadOnlySpan<byte> line, int position)
    {
        int offset = line[position..].IndexOfAnyExcept((byte)' ', (byte)'\t');
        return offset < 0 ? line.Length : position + offset;
    }

    private void AddArg(ArgRange arg)
    {
        if (_argCount == _args.Length)
        {
            // Grows with the arguments actually received, never with the count a header announces.
            Array.Resize(ref _args, _args.Length * 2);
        }

        _args[_argCount++] = arg;
    }

    private void EnsureScratchCapacity(int capacity)
    {
        if (_scratch.Length < capacity)
        {
            Array.Resize(ref _scratch, Math.Max(capacity, _scratch.Length * 2));
        }
    }

    private void AppendScratch(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_scratch.AsSpan(_scratchLength));
        _scratchLength += bytes.Length;
    }

    private void AppendScratch(byte value) => _scratch[_scratchLength++] = value;

    private ParseStatus NeedMore(long minimumBytes, int bufferLength)
    {
        MinimumBytes = (int)Math.Clamp(minimumBytes, bufferLength + 1L, int.MaxValue);
        return ParseStatus.Incomplete;
    }

    private ParseStatus Fail(string message)
    {
        ErrorMessage = message;
        return ParseStatus.Error;
    }

    private static string ExpectedDollar(byte got) =>
        ExpectedDollarMessages[got] ??= $"Protocol error: expected '$', got '{(char)got}'";
}
