using System.Buffers;

namespace EventLoop.Buffers;

/// <summary>
/// The reactor's own pool of connection buffers. Owned by the reactor thread: not thread-safe.
/// </summary>
/// <remarks>
/// <see cref="ArrayPool{T}.Shared"/> keeps a few dozen arrays per size per core. In one iteration the
/// reactor may rent an output buffer for each of a thousand ready connections before it flushes and
/// returns any, so the shared pool would allocate most of them anew every iteration. This pool keeps
/// every small buffer it has handed out (up to <see cref="RetainedArrays"/>, 4 MiB), so steady state
/// allocates nothing; idle connections still hold none, the pool does. Larger requests go to the
/// shared pool, and those above 1 MiB to the GC.
/// </remarks>
internal sealed class ReactorArrayPool : ArrayPool<byte>
{
    /// <summary>The size of every buffer this pool keeps.</summary>
    public const int BufferSize = 4096;
    private const int RetainedArrays = 1024;
    /// <summary>
    /// Above this, buffers (a peer not reading megabytes of replies, a huge argument) are plain arrays:
    /// ArrayPool.Shared would keep them after the connection is gone.
    /// </summary>
    public const int LargestPooled = 1 << 20;
    private readonly Stack<byte[]> _free = new();

    /// <summary>Arrays waiting for reuse (INFO reports them).</summary>
    public int Retained => _free.Count;

    public override byte[] Rent(int minimumLength)
    {
        if (minimumLength > LargestPooled)
            return GC.AllocateUninitializedArray<byte>(minimumLength);
        if (minimumLength > BufferSize)
            return Shared.Rent(minimumLength);
        return _free.TryPop(out byte[]? array) ? array : new byte[BufferSize];
    }

    public override void Return(byte[] array, bool clearArray = false)
    {
        if (array.Length > LargestPooled)
            return; // left to the GC: the shared pool would keep a burst's huge arrays for good
        if (array.Length != BufferSize)
        {
            Shared.Return(array, clearArray);
            return;
        }
        if (_free.Count < RetainedArrays)
            _free.Push(array);
    }
}
