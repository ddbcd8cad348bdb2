namespace EventLoop.Client;

/// <summary>
/// Finds where RESP2 replies end in a byte stream, resumably: feed it the stream in pieces of any
/// size and it remembers where it was, so no byte has to be kept or scanned twice.
/// </summary>
/// <remarks>
/// It never materialises a reply and never allocates: it reports each reply's end and top-level
/// kind, which is all a load generator needs to count replies and error replies. The client uses it
/// to find reply boundaries, then parses the complete bytes. Nested arrays need no stack: one
/// counter of elements still expected in the current reply is enough to know when it ends.
/// The structure is checked (type bytes, lengths); the contents of lines and bulk strings are not.
/// A mutable struct: keep it in a field or local and call it by reference. Not thread-safe.
/// </remarks>
public struct RespReplyReader
{
    private const long MaxLength = 512L * 1024 * 1024; // RESP's own limit for a bulk string

    private enum State : byte { ElementStart, Line, Header, Bulk }

    private long _pendingElements; // elements still expected in the current reply; 0 between replies
    private long _bulkRemaining;   // bytes of the current bulk string left to skip, its CRLF included
    private long _number;          // the length being read from a '$' or '*' header
    private State _state;
    private RespKind _kind;        // the current reply's top-level kind
    private byte _headerType;      // '$' or '*'
    private bool _headerIsRoot;    // the header being read opens the reply (decides Null)
    private bool _negative;
    private bool _sawDigit;

    /// <summary>True when the reader stopped inside a reply (some of its bytes were consumed).</summary>
    public readonly bool IsInsideReply => _pendingElements != 0;

    /// <summary>Forgets any partial reply (use after the stream was replaced by a new connection).</summary>
    public void Reset() => this = default;

    /// <summary>
    /// Consumes <paramref name="input"/> up to the end of the next reply.
    /// </summary>
    /// <param name="input">The next bytes of the stream.</param>
    /// <param name="consumed">Bytes consumed: up to the reply's last byte when complete, all of the input otherwise.</param>
    /// <param name="kind">The completed reply's top-level kind (meaningful only when complete).</param>
    /// <returns><see cref="RespReadStatus.Complete"/> once per reply; call again with the rest of the input for the next.</returns>
    public RespReadStatus Read(ReadOnlySpan<byte> input, out int consumed, out RespKind kind)
    {
        int position = 0;
        while (position < input.Length)
        {
            bool replyEnded;
            switch (_state)
            {
                case State.ElementStart:
                    if (!StartElement(input[position++]))
                        return Malformed(position, out consumed, out kind);
                    continue;
                case State.Line:
                    int newline = input[position..].IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        position = input.Length;
                        continue;
                    }
                    position += newline + 1;
                    replyEnded = EndElement();
                    break;
                case State.Header:
                    if (!TryReadHeaderByte(input[position++], out replyEnded))
                        return Malformed(position, out consumed, out kind);
                    break;
                default: // State.Bulk
                    int skip = (int)Math.Min(_bulkRemaining, input.Length - position);
                    position += skip;
                    _bulkRemaining -= skip;
                    replyEnded = _bulkRemaining == 0 && EndElement();
                    break;
            }
            if (replyEnded)
            {
                consumed = position;
                kind = _kind;
                return RespReadStatus.Complete;
            }
        }
        consumed = input.Length;
        kind = default;
        return RespReadStatus.Incomplete;
    }

    private bool StartElement(byte type)
    {
        bool root = _pendingElements == 0;
        if (root)
            _pendingElements = 1;
        switch (type)
        {
            case (byte)'+': SetLine(root, RespKind.SimpleString); return true;
            case (byte)'-': SetLine(root, RespKind.Error); return true;
            case (byte)':': SetLine(root, RespKind.Integer); return true;
            case (byte)'$':
            case (byte)'*':
                if (root)
                    _kind = type == '$' ? RespKind.BulkString : RespKind.Array;
                _state = State.Header;
                _headerType = type;
                _headerIsRoot = root;
                _number = 0;
                _negative = false;
                _sawDigit = false;
                return true;
            default:
                return false;
        }
    }

    private void SetLine(bool root, RespKind kind)
    {
        if (root)
            _kind = kind;
        _state = State.Line;
    }

    /// <summary>Takes one byte of a length header; false when the header is malformed.</summary>
    private bool TryReadHeaderByte(byte b, out bool replyEnded)
    {
        replyEnded = false;
        if (b is >= (byte)'0' and <= (byte)'9')
        {
            _number = _number * 10 + (b - '0');
            _sawDigit = true;
            return _number <= MaxLength;
        }
        if (b == '-' && !_sawDigit && !_negative)
            return _negative = true;
        if (b == '\r')
            return true;
        return b == '\n' && _sawDigit && TryEndHeader(out replyEnded);
    }

    private bool TryEndHeader(out bool replyEnded)
    {
        replyEnded = false;
        if (_negative)
        {
            if (_number != 1)
                return false;
            if (_headerIsRoot)
                _kind = RespKind.Null;
            replyEnded = EndElement();
        }
        else if (_headerType == '$')
        {
            _bulkRemaining = _number + 2;
            _state = State.Bulk;
        }
        else
        {
            // The array stands for its elements: it ends when they have all ended.
            _pendingElements += _number;
            replyEnded = EndElement();
        }
        return true;
    }

    /// <summary>Marks one element finished; true when that finished the whole reply.</summary>
    private bool EndElement()
    {
        _state = State.ElementStart;
        return --_pendingElements == 0;
    }

    private RespReadStatus Malformed(int position, out int consumed, out RespKind kind)
    {
        consumed = position;
        kind = default;
        return RespReadStatus.Malformed;
    }
}
