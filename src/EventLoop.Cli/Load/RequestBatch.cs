namespace EventLoop.Cli.Load;

/// <summary>
/// A load thread's send buffer: the template repeated pipeline-depth times, so a batch of
/// <c>n</c> requests is one contiguous span and one send. Owned by one load thread.
/// </summary>
internal sealed class RequestBatch
{
    private readonly RequestTemplate _template;
    private readonly byte[] _bytes;
    private readonly Random _random = new();

    public RequestBatch(RequestTemplate template, int capacity)
    {
        _template = template;
        _bytes = new byte[template.Bytes.Length * capacity];
        for (int i = 0; i < capacity; i++)
            template.Bytes.CopyTo(_bytes, i * template.Bytes.Length);
    }

    /// <summary>Bytes per request.</summary>
    public int RequestLength => _template.Bytes.Length;

    /// <summary>The first <paramref name="count"/> requests, each with fresh random keys.</summary>
    public ReadOnlySpan<byte> Prepare(int count)
    {
        int length = count * RequestLength;
        if (_template.KeyOffsets.Length > 0)
            for (int request = 0; request < count; request++)
                foreach (int offset in _template.KeyOffsets)
                    WriteDigits(_bytes.AsSpan(request * RequestLength + offset, _template.KeyWidth), _random.Next(_template.Keyspace));
        return _bytes.AsSpan(0, length);
    }

    /// <summary>
    /// Bytes <paramref name="start"/>..<paramref name="end"/> of a batch whose first part was sent:
    /// the copies differ only in key digits, so the rest is still valid RESP (its key may be another random key).
    /// </summary>
    public ReadOnlySpan<byte> Remainder(int start, int end) => _bytes.AsSpan(start, end - start);

    /// <summary>Writes <paramref name="value"/> as exactly <c>digits.Length</c> decimal digits, zero-padded (higher digits dropped).</summary>
    internal static void WriteDigits(Span<byte> digits, long value)
    {
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            digits[i] = (byte)('0' + value % 10);
            value /= 10;
        }
    }
}
