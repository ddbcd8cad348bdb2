using System.Buffers;

namespace EventLoop.Buffers;

/// <summary>
/// A growable byte buffer over arrays rented from an <see cref="ArrayPool{T}"/>: written at the end,
/// consumed from the start. <see cref="Release"/> hands the array back, so an idle owner holds nothing.
/// </summary>
/// <remarks>
/// No synchronisation: one thread owns it at a time (the reactor for connection buffers; a work item's
/// buffers travel with the item through the ring and the completion queue, which order the hand-off).
/// A reserved headroom at the front lets a reply's length header be written after its payload. An
/// <see cref="IMemoryAccount"/>, when given, hears of every change of the rented array's size.
/// </remarks>
internal sealed class PooledBuffer(ArrayPool<byte> pool, int minimumRent = 4096, IMemoryAccount? account = null) : IBufferWriter<byte>
{
    private byte[] _array = [];

    /// <summary>A buffer over <see cref="ArrayPool{T}.Shared"/>, for owners on any thread.</summary>
    public PooledBuffer() : this(ArrayPool<byte>.Shared)
    {
    }

    private int _start;
    private int _end;
    // Bytes kept free in front of the contents for Prepend; compaction and growth preserve them.
    private int _headroom;

    /// <summary>Bytes written and not yet consumed.</summary>
    public int Length => _end - _start;

    /// <summary>True while an array is rented.</summary>
    public bool HoldsMemory => _array.Length != 0;

    /// <summary>Size of the rented array (0 when none).</summary>
    public int Capacity => _array.Length;

    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(_start, _end - _start);

    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(_start, _end - _start);

    public void Advance(int count)
    {
        if ((uint)count > (uint)(_array.Length - _end))
            throw new ArgumentOutOfRangeException(nameof(count));
        _end += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _array.AsMemory(_end);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureFree(sizeHint);
        return _array.AsSpan(_end);
    }

    /// <summary>Appends <paramref name="data"/>.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        EnsureFree(data.Length);
        data.CopyTo(_array.AsSpan(_end));
        _end += data.Length;
    }

    /// <summary>Drops <paramref name="count"/> bytes from the front; an emptied buffer restarts at offset 0.</summary>
    public void Consume(int count)
    {
        _start += count;
        if (_start == _end)
            _start = _end = _headroom = 0;
    }

    /// <summary>Forgets the contents, keeping the array.</summary>
    public void Clear() => _start = _end = _headroom = 0;

    /// <summary>Forgets the contents and leaves <paramref name="headroom"/> free bytes at the front for <see cref="Prepend"/>.</summary>
    public void ClearWithHeadroom(int headroom)
    {
        _start = _end = _headroom = 0;
        if (_array.Length < headroom + 1)
            Grow(headroom + 1);
        _start = _end = _headroom = headroom;
    }

    /// <summary>Writes <paramref name="data"/> just before the current contents, into the headroom.</summary>
    public void Prepend(ReadOnlySpan<byte> data)
    {
        if (data.Length > _start)
            throw new InvalidOperationException("not enough headroom");
        _start -= data.Length;
        _headroom = 0;
        data.CopyTo(_array.AsSpan(_start));
    }

    /// <summary>Makes sure at least <paramref name="sizeHint"/> bytes (at least one) can be written without growing.</summary>
    public void EnsureFree(int sizeHint)
    {
        int needed = Math.Max(sizeHint, 1);
        if (_array.Length - _end >= needed)
            return;
        if (_start > _headroom && _array.Length - _headroom - Length >= needed)
        {
            // Slide the unconsumed bytes to the front rather than renting a larger array.
            int length = Length;
            WrittenSpan.CopyTo(_array.AsSpan(_headroom));
            _start = _headroom;
            _end = _headroom + length;
            return;
        }
        Grow(Math.Max(_headroom + Length + needed, _array.Length * 2));
    }

    /// <summary>Returns the array to the pool; the buffer is empty and holds no memory afterwards.</summary>
    public void Release()
    {
        if (_array.Length != 0)
        {
            account?.Resized(-_array.Length);
            pool.Return(_array);
        }
        _array = [];
        _start = _end = _headroom = 0;
    }

    private void Grow(int minimumSize)
    {
        byte[] larger = pool.Rent(Math.Max(minimumSize, minimumRent));
        int length = Length;
        WrittenSpan.CopyTo(larger.AsSpan(_headroom));
        account?.Resized(larger.Length - _array.Length);
        if (_array.Length != 0)
            pool.Return(_array);
        _array = larger;
        _start = _headroom;
        _end = _headroom + length;
    }
}
