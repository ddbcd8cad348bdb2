using EventLoop.Buffers;

namespace EventLoop.Tests.Buffers;

public sealed class PooledBufferTests
{
    [Fact]
    public void Headroom_survives_growth_so_a_header_can_be_prepended_to_a_large_payload()
    {
        var buffer = new PooledBuffer();
        buffer.ClearWithHeadroom(16);
        byte[] payload = Enumerable.Range(0, 1_000_000).Select(i => (byte)i).ToArray();
        for (int offset = 0; offset < payload.Length; offset += 1000)
            buffer.Write(payload.AsSpan(offset, 1000));
        buffer.Prepend("$1000000\r\n"u8);
        Assert.Equal([.. "$1000000\r\n"u8.ToArray(), .. payload], buffer.WrittenSpan.ToArray());
        buffer.Release();
    }

    [Fact]
    public void Consumed_bytes_are_reclaimed_before_the_buffer_grows()
    {
        var buffer = new PooledBuffer();
        buffer.Write(new byte[3000]);
        int capacity = buffer.Capacity;
        buffer.Consume(2900);
        buffer.Write(new byte[capacity - 200]);
        Assert.Equal(capacity, buffer.Capacity);
        Assert.Equal(capacity - 100, buffer.Length);
    }

    [Fact]
    public void Release_returns_the_array_so_an_idle_owner_holds_nothing()
    {
        var buffer = new PooledBuffer();
        buffer.Write("hello"u8);
        Assert.True(buffer.HoldsMemory);
        buffer.Release();
        Assert.False(buffer.HoldsMemory);
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void Prepend_without_headroom_is_refused()
    {
        var buffer = new PooledBuffer();
        buffer.Write("x"u8);
        Assert.Throws<InvalidOperationException>(() => buffer.Prepend("$1\r\n"u8));
    }
}
