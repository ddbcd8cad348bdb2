namespace EventLoop.Buffers;

/// <summary>
/// Told each time a <see cref="PooledBuffer"/> takes or gives back an array, so an owner can keep a running
/// total of what it holds instead of scanning its buffers. Called on the thread that owns the buffer.
/// </summary>
internal interface IMemoryAccount
{
    /// <summary>The buffer's array grew by <paramref name="delta"/> bytes (negative: shrank or was returned).</summary>
    void Resized(int delta);
}
