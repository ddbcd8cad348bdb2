using System.Diagnostics;
using EventLoop.Multiplexing;
using EventLoop.Native;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Tests.Multiplexing;

/// <summary>
/// The select tests depend on descriptor numbers staying below FD_SETSIZE, and one of them takes
/// descriptor numbers around 1500: this collection runs alone, not beside tests that open hundreds of sockets.
/// </summary>
[CollectionDefinition(nameof(DescriptorNumberSensitive), DisableParallelization = true)]
public sealed class DescriptorNumberSensitive;

/// <summary>Every backend against real Unix socket pairs: the same behaviour, whatever the kernel API.</summary>
[Collection(nameof(DescriptorNumberSensitive))]
public sealed class MultiplexerTests
{
    public static TheoryData<string> Backends()
    {
        TheoryData<string> data = [];
        foreach (string name in MultiplexerFactory.Names)
            data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Factory_creates_each_backend_under_its_own_name(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        Assert.Equal(backend, mux.Name);
        Assert.Equal(backend == "epoll-et", mux.IsEdgeTriggered);
    }

    [Fact]
    public void Factory_maps_auto_to_epoll_and_rejects_unknown_names_listing_the_valid_ones()
    {
        using (IMultiplexer auto = MultiplexerFactory.Create("auto"))
            Assert.Equal("epoll", auto.Name);
        var error = Assert.Throws<ArgumentException>(() => MultiplexerFactory.Create("kqueue"));
        Assert.Contains("'kqueue'", error.Message);
        Assert.Contains("auto, epoll, epoll-et, poll, select, io_uring", error.Message);
        Assert.DoesNotContain("auto", MultiplexerFactory.Names);
    }

    /// <summary>
    /// Register, change interest, wait once, unregister: epoll makes a call for each; poll and select keep
    /// registrations in user space and call only to wait; io_uring submits the registrations with the wait
    /// (its one-shot poll has fired, so unregistering has nothing armed to cancel).
    /// </summary>
    [Theory]
    [InlineData("epoll", 4)]
    [InlineData("epoll-et", 4)]
    [InlineData("poll", 1)]
    [InlineData("select", 1)]
    [InlineData("io_uring", 1)]
    public void System_calls_count_what_reaches_the_kernel(string backend, long expected)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        mux.Register(pair.Near, Interest.Read);
        mux.Register(pair.Near, Interest.Read | Interest.Write);
        Assert.Equal([new ReadyEvent(pair.Near, Interest.Write)], WaitFor(mux, 0));
        mux.Unregister(pair.Near);
        Assert.Equal(expected, mux.SystemCalls);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Nothing_is_reported_before_the_peer_writes_and_read_readiness_after(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        Assert.Empty(WaitFor(mux, 0));

        pair.WriteFromPeer("x");

        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Write_readiness_is_reported_for_a_socket_with_buffer_space(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Write);

        Assert.Equal([new ReadyEvent(pair.Near, Interest.Write)], WaitFor(mux, 1000));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Interest_none_reports_nothing_for_pending_data(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        pair.WriteFromPeer("x");
        mux.Register(pair.Near, Interest.None);

        Assert.Empty(WaitFor(mux, 0));

        mux.Register(pair.Near, Interest.Read); // the data was there all along
        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Changing_interest_read_to_read_write_and_back_takes_effect_on_the_next_wait(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        Assert.Empty(WaitFor(mux, 0));

        mux.Register(pair.Near, Interest.Read | Interest.Write);
        Assert.Equal([new ReadyEvent(pair.Near, Interest.Write)], WaitFor(mux, 1000));

        mux.Register(pair.Near, Interest.Read);
        Assert.Empty(WaitFor(mux, 0));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Unregister_stops_reports_and_is_idempotent(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        pair.WriteFromPeer("x");
        Assert.Single(WaitFor(mux, 1000)); // reported once, so a re-arm is pending where the backend has one

        mux.Unregister(pair.Near);
        mux.Unregister(pair.Near);
        mux.Unregister(pair.Far); // never registered

        Assert.Empty(WaitFor(mux, 0));
    }

    /// <summary>
    /// The peer must see the close at once, not at the multiplexer's next wait: a backend that keeps
    /// a reference to the socket (an armed io_uring poll does) has to drop it in Unregister.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void Unregister_then_close_lets_the_peer_see_end_of_stream_at_once(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        Assert.Empty(WaitFor(mux, 0)); // the watch is now in place in the kernel

        mux.Unregister(pair.Near);
        pair.CloseNear();

        Assert.Equal(0, Sockets.Read(pair.Far, new byte[16]));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Peer_close_reports_read_and_the_read_returns_zero(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);

        pair.ClosePeer();

        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
        Assert.Equal(0, Sockets.Read(pair.Near, new byte[16]));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Zero_timeout_returns_zero_without_blocking(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        var clock = Stopwatch.StartNew();

        Assert.Equal(0, mux.Wait(new ReadyEvent[8], 0));
        Assert.True(clock.ElapsedMilliseconds < 1000, $"Wait(0) blocked for {clock.ElapsedMilliseconds} ms");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Positive_timeout_blocks_until_it_elapses_then_returns_zero(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        var events = new ReadyEvent[8];
        var clock = Stopwatch.StartNew();
        int calls = 0;

        // Counting calls rather than timing one: a wait may end early on EINTR, but a backend that
        // ignored the timeout would make thousands of calls in 100 ms, not one to three.
        for (; clock.ElapsedMilliseconds < 100; calls++)
            Assert.Equal(0, mux.Wait(events, 50));

        Assert.InRange(calls, 1, 5);
    }

    [Theory(Timeout = 10_000)]
    [MemberData(nameof(Backends))]
    public async Task Infinite_wait_wakes_when_the_peer_writes(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        // The multiplexer moves to the waiting thread: it is only ever used by one thread at a time.
        Task<ReadyEvent[]> waiting = Task.Run(() => WaitUntilReady(mux));
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        pair.WriteFromPeer("x");

        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], await waiting);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Among_many_descriptors_exactly_the_written_ones_are_reported(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        // 300 pairs: 600 descriptors, enough to matter and still below FD_SETSIZE for select.
        SocketPair[] pairs = Enumerable.Range(0, 300).Select(_ => new SocketPair()).ToArray();
        try
        {
            foreach (SocketPair pair in pairs)
                mux.Register(pair.Near, Interest.Read);
            int[] written = [3, 77, 150, 222, 299];
            foreach (int i in written)
                pairs[i].WriteFromPeer("x");

            ReadyEvent[] ready = WaitFor(mux, 1000, capacity: 1024);

            Assert.Equal(written.Select(i => pairs[i].Near).Order(), ready.Select(e => e.Fd).Order());
            Assert.All(ready, e => Assert.Equal(Interest.Read, e.Ready));
        }
        finally
        {
            foreach (SocketPair pair in pairs)
                pair.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Ready_descriptors_beyond_the_event_buffer_are_reported_by_the_next_wait(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        SocketPair[] pairs = Enumerable.Range(0, 4).Select(_ => new SocketPair()).ToArray();
        try
        {
            foreach (SocketPair pair in pairs)
            {
                mux.Register(pair.Near, Interest.Read);
                pair.WriteFromPeer("x");
            }

            ReadyEvent[] first = WaitFor(mux, 1000, capacity: 2);
            ReadyEvent[] second = WaitFor(mux, 1000, capacity: 2);

            Assert.Equal(2, first.Length);
            Assert.Equal(pairs.Select(p => p.Near).Order(), first.Concat(second).Select(e => e.Fd).Order());
        }
        finally
        {
            foreach (SocketPair pair in pairs)
                pair.Dispose();
        }
    }

    /// <summary>
    /// Two writable sockets, room for one event: the other's readiness is left pending (for io_uring,
    /// a completion already in the ring). Its interest then changes to Read, with nothing to read:
    /// the pending Write must never be reported.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends))]
    public void A_registration_changed_between_waits_never_reports_the_stale_interest(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var a = new SocketPair();
        using var b = new SocketPair();
        mux.Register(a.Near, Interest.Write);
        mux.Register(b.Near, Interest.Write);
        ReadyEvent reported = Assert.Single(WaitFor(mux, 1000, capacity: 1));
        int other = reported.Fd == a.Near ? b.Near : a.Near;

        mux.Register(other, Interest.Read);

        ReadyEvent[] next = WaitFor(mux, mux.IsEdgeTriggered ? 0 : 1000, capacity: 8);
        Assert.DoesNotContain(next, e => e.Fd == other);
        if (!mux.IsEdgeTriggered) // the other socket is still writable: level-triggered reports it again
            Assert.Equal([new ReadyEvent(reported.Fd, Interest.Write)], next);
        Assert.DoesNotContain(WaitFor(mux, 0, capacity: 8), e => e.Fd == other);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Wait_does_not_allocate_after_warm_up(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read | Interest.Write);
        pair.WriteFromPeer("x");
        var events = new ReadyEvent[8];
        for (int i = 0; i < 100; i++)
            mux.Wait(events, 0);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
            mux.Wait(events, 0);

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Edge_triggered_epoll_reports_readiness_once_per_edge()
    {
        using IMultiplexer mux = MultiplexerFactory.Create("epoll-et");
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);

        pair.WriteFromPeer("x");
        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
        Assert.Empty(WaitFor(mux, 0)); // still unread, but no new edge

        pair.WriteFromPeer("y");
        Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public void Unread_data_is_reported_again_by_level_triggered_backends_only(string backend)
    {
        using IMultiplexer mux = MultiplexerFactory.Create(backend);
        using var pair = new SocketPair();
        mux.Register(pair.Near, Interest.Read);
        pair.WriteFromPeer("x");
        Assert.Single(WaitFor(mux, 1000));

        ReadyEvent[] again = WaitFor(mux, mux.IsEdgeTriggered ? 0 : 1000);

        Assert.Equal(mux.IsEdgeTriggered ? [] : [new ReadyEvent(pair.Near, Interest.Read)], again);
    }

    [Fact]
    public void Select_refuses_a_descriptor_at_or_above_fd_setsize_and_keeps_working()
    {
        using IMultiplexer mux = MultiplexerFactory.Create("select");
        using var pair = new SocketPair();
        // F_DUPFD takes the lowest free number >= 1500, never closing one in use (unlike dup2).
        int high = fcntl(pair.Near, F_DUPFD_CLOEXEC, 1500);
        Assert.True(high >= 1500, $"fcntl(F_DUPFD) failed: {Errno.Describe(Errno.Last)}");
        try
        {
            var error = Assert.Throws<MultiplexerException>(() => mux.Register(high, Interest.Read));
            Assert.Equal(
                $"too many connections for the select backend: descriptor {high} is at or above FD_SETSIZE (1024)",
                error.Message);

            mux.Register(pair.Near, Interest.Read);
            pair.WriteFromPeer("x");
            Assert.Equal([new ReadyEvent(pair.Near, Interest.Read)], WaitFor(mux, 1000));
        }
        finally
        {
            close(high);
        }
    }

    [Fact]
    public unsafe void Select_shim_returns_einval_for_a_descriptor_outside_the_set_instead_of_writing_past_it()
    {
        SelectShim.EnsureLoaded();
        Assert.Equal(1024, SelectShim.FdSetSize());
        byte* interest = stackalloc byte[] { 1 };
        byte* ready = stackalloc byte[1];
        int* fds = stackalloc int[1];
        foreach (int fd in new[] { 1024, 1500, -1 })
        {
            fds[0] = fd;
            Assert.Equal(-Errno.EINVAL, SelectShim.Wait(fds, interest, 1, 0, ready));
        }
    }

    /// <summary>Waits without a time limit until something is reported (a wait may end early, empty, on EINTR).</summary>
    private static ReadyEvent[] WaitUntilReady(IMultiplexer mux)
    {
        ReadyEvent[] ready;
        do
            ready = WaitFor(mux, -1);
        while (ready.Length == 0);
        return ready;
    }

    private static ReadyEvent[] WaitFor(IMultiplexer mux, int timeoutMs, int capacity = 64)
    {
        var events = new ReadyEvent[capacity];
        int count = mux.Wait(events, timeoutMs);
        return events[..count];
    }

    /// <summary>A connected, non-blocking AF_UNIX stream pair: <see cref="Near"/> is watched, <see cref="Far"/> plays the peer.</summary>
    private sealed unsafe class SocketPair : IDisposable
    {
        public SocketPair()
        {
            int* fds = stackalloc int[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
                throw new InvalidOperationException($"socketpair: {Errno.Describe(Errno.Last)}");
            Near = fds[0];
            Far = fds[1];
        }

        public int Near { get; private set; }
        public int Far { get; private set; }

        public void WriteFromPeer(string text)
        {
            byte[] bytes = System.Text.Encoding.ASCII.GetBytes(text);
            Assert.Equal(bytes.Length, Sockets.Send(Far, bytes));
        }

        public void ClosePeer()
        {
            close(Far);
            Far = -1;
        }

        public void CloseNear()
        {
            close(Near);
            Near = -1;
        }

        public void Dispose()
        {
            if (Near >= 0)
                close(Near);
            if (Far >= 0)
                close(Far);
        }
    }
}
