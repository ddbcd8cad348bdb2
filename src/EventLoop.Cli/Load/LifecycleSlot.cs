using System.Text;
using EventLoop.Client;

namespace EventLoop.Cli.Load;

/// <summary>
/// A lifecycle connection's own state: the bytes it sends (SUBMITs and RESULTs differ per request, so
/// they cannot come from the thread's shared batch as plain requests do), the RESULTs waiting for
/// the next send, and the start of the reply being read, enough to take an id or tell -PENDING from
/// another error, while the rest of a RESULT's reply is compared with the payload as it streams by.
/// Owned by the connection's load thread; every buffer is sized once, so a lifecycle allocates nothing.
/// </summary>
internal sealed class LifecycleSlot
{
    private static ReadOnlySpan<byte> PendingPrefix => "-PENDING"u8;

    private readonly LifecycleTemplate _template;

    // The send buffer. [0, _queuedFrom) was handed to the last send (its tail may still be unsent:
    // the connection's UnsentStart/End); [_queuedFrom, _length) waits for the next. Each lifecycle
    // has one request here at most, but while a send is unfinished, answered SUBMITs queue their
    // RESULTs behind it: hence twice the pipeline.
    private readonly byte[] _output;
    private int _queuedFrom;
    private int _length;

    // The lifecycles whose RESULT waits in [_queuedFrom, _length), in order.
    private readonly InFlightRequest[] _waiting;

    // The reply being read: its first bytes, how many came, and whether a RESULT's reply left the expected bytes.
    private readonly byte[] _head = new byte[LifecycleTemplate.MaxIdReplyBytes];
    private int _seen;
    private bool _differs;

    public LifecycleSlot(LifecycleTemplate template, int pipeline)
    {
        _template = template;
        _output = new byte[2 * pipeline * template.MaxRequestBytes];
        _waiting = new InFlightRequest[pipeline];
    }

    /// <summary>Answered SUBMITs whose RESULT is not sent yet.</summary>
    public int Waiting { get; private set; }

    /// <summary>Bytes of the send buffer, for a send's unsent remainder.</summary>
    public ReadOnlySpan<byte> Bytes(int start, int end) => _output.AsSpan(start, end - start);

    /// <summary>
    /// Starts the next send (nothing may be unsent): moves the waiting RESULTs to the front and into
    /// the connection's in-flight ring, ahead of the SUBMITs this send adds; returns how many moved.
    /// </summary>
    public int BeginSend(LoadConnection connection)
    {
        int queued = _length - _queuedFrom;
        _output.AsSpan(_queuedFrom, queued).CopyTo(_output);
        _queuedFrom = 0;
        _length = queued;
        for (int i = 0; i < Waiting; i++)
            connection.Push(_waiting[i]);
        int moved = Waiting;
        Waiting = 0;
        return moved;
    }

    /// <summary>Appends a SUBMIT with a fresh tag; returns the tag, which its result must echo.</summary>
    public long AppendSubmit(Random random)
    {
        Span<byte> request = _output.AsSpan(_length, _template.Submit.Bytes.Length);
        _template.Submit.Bytes.CopyTo(request);
        long tag = random.NextInt64(_template.TagSpace);
        RequestBatch.WriteDigits(request.Slice(_template.SubmitTagOffset, _template.TagDigits), tag);
        _length += request.Length;
        return tag;
    }

    /// <summary>Everything queued since the last send, as offsets into the send buffer; it now belongs to this send.</summary>
    public (int Start, int End) TakeQueued()
    {
        (int start, int end) = (_queuedFrom, _length);
        _queuedFrom = _length;
        return (start, end);
    }

    /// <summary>Takes the next piece of the oldest request's reply; <paramref name="startsReply"/> when it is the reply's first.</summary>
    public void Capture(ReadOnlySpan<byte> part, bool startsReply, bool awaitsResult)
    {
        if (startsReply)
            (_seen, _differs) = (0, false);
        if (_seen < _head.Length)
            part[..Math.Min(part.Length, _head.Length - _seen)].CopyTo(_head.AsSpan(_seen));
        if (awaitsResult)
            CompareWithPayload(part);
        _seen += part.Length;
    }

    /// <summary>
    /// The reply to <paramref name="request"/> is complete: a SUBMIT's id queues the lifecycle's RESULT
    /// (true: the lifecycle goes on); otherwise the lifecycle ends, with <paramref name="error"/> null
    /// when the result echoed the payload.
    /// </summary>
    public bool Advance(RespKind kind, in InFlightRequest request, out ErrorKind? error)
    {
        if (!request.AwaitsResult)
        {
            if (kind == RespKind.BulkString && _seen <= _head.Length)
            {
                _length += _template.WriteResult(_output.AsSpan(_length), _head.AsSpan(0, _seen));
                _waiting[Waiting++] = request with { AwaitsResult = true };
                error = null;
                return true;
            }
            error = kind == RespKind.Error ? ErrorKind.ErrorReply : ErrorKind.Mismatch;
            return false;
        }
        error = kind switch
        {
            RespKind.Null => ErrorKind.Nil,
            RespKind.Error => _head.AsSpan(0, Math.Min(_seen, _head.Length)).StartsWith(PendingPrefix) ? ErrorKind.Pending : ErrorKind.ErrorReply,
            RespKind.BulkString when EchoesPayload(request.Tag) => null,
            _ => ErrorKind.Mismatch,
        };
        return false;
    }

    /// <summary>The reply just read, in words, for the report's first error (called once per run at most).</summary>
    public string DescribeReply(bool awaitsResult)
    {
        string shown = Encoding.ASCII.GetString(_head, 0, Math.Min(_seen, _head.Length)).TrimEnd().Replace("\r\n", " ");
        return $"{(awaitsResult ? "RESULT" : "SUBMIT")} answered {shown}{(_seen > _head.Length ? "…" : "")}";
    }

    /// <summary>Forgets the last socket's sends, waiting RESULTs and partial reply.</summary>
    public void Reset()
    {
        _queuedFrom = _length = Waiting = _seen = 0;
        _differs = false;
    }

    /// <summary>Compares a piece of a RESULT's reply with the expected one, past the header and the tag (checked at the end).</summary>
    private void CompareWithPayload(ReadOnlySpan<byte> part)
    {
        byte[] expected = _template.ExpectedReply;
        int end = _seen + part.Length;
        if (end > expected.Length)
        {
            _differs = true;
            return;
        }
        int from = Math.Max(_seen, _template.ExpectedTagOffset + _template.TagDigits);
        if (from < end && !part[(from - _seen)..].SequenceEqual(expected.AsSpan(from, end - from)))
            _differs = true;
    }

    private bool EchoesPayload(long tag)
    {
        int tagOffset = _template.ExpectedTagOffset;
        if (_differs || _seen != _template.ExpectedReply.Length
            || !_head.AsSpan(0, tagOffset).SequenceEqual(_template.ExpectedReply.AsSpan(0, tagOffset)))
            return false;
        Span<byte> digits = stackalloc byte[LifecycleTemplate.MaxTagDigits];
        digits = digits[.._template.TagDigits];
        RequestBatch.WriteDigits(digits, tag);
        return _head.AsSpan(tagOffset, digits.Length).SequenceEqual(digits);
    }
}
