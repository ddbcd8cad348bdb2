using System.Runtime.InteropServices;
using EventLoop.Native;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Multiplexing;

/// <summary>
/// io_uring(7) used as a readiness API: one one-shot <c>IORING_OP_POLL_ADD</c> per watched
/// descriptor, re-armed on the wait after it fired, which gives epoll's level-triggered semantics.
/// </summary>
/// <remarks>
/// <para>Owned by the thread that waits on it: the submission and completion rings are shared with
/// the kernel without locks, and poll completions are run as task work of the submitting thread.</para>
/// <para><b>Why readiness, not completion-based recv/send.</b> The <see cref="IMultiplexer"/> seam
/// reports "descriptor ready", and the reactor then reads and writes with ordinary calls, so every
/// backend shares one connection path and one set of tests. Completion-based I/O would hand the kernel
/// a buffer per connection before any data arrives (memory held by idle connections, which the design
/// avoids) and turn the reactor inside out; it is where io_uring's larger gains are, and it needs a
/// different interface. Poll-based io_uring still saves what epoll spends on epoll_ctl: interest
/// changes are queued in the ring and submitted together with the wait, in one io_uring_enter.</para>
/// <para><b>Stale completions.</b> user_data carries the descriptor (low 32 bits) and a per-descriptor
/// generation (high 32 bits). An interest change or <see cref="Unregister"/> bumps the generation and
/// cancels the armed poll with <c>IORING_OP_POLL_REMOVE</c>; a completion that was already in flight
/// (or already in the completion ring) then carries an old generation and is dropped, so a replaced
/// or removed registration is never reported.</para>
/// <para><b>Timeout.</b> The wait passes its timeout to io_uring_enter itself through
/// <c>IORING_ENTER_EXT_ARG</c> (Linux 5.11, so every 6.x kernel has it). The alternative,
/// an <c>IORING_OP_TIMEOUT</c> entry per wait, costs a submission each time and, when events arrive
/// first, a <c>TIMEOUT_REMOVE</c> or a late timeout completion to recognise and skip.</para>
/// </remarks>
public sealed unsafe class IoUringMultiplexer : IMultiplexer
{
    // Missing from Tmds.LibC 0.5.0 (values from include/uapi/linux/io_uring.h and asm-generic/errno.h).
    private const int SYS_io_uring_enter = 426;           // the same on x86-64 and arm64: added after the syscall tables were unified
    private const uint IORING_ENTER_EXT_ARG = 1u << 3;    // Linux 5.11: the last argument is an io_uring_getevents_arg
    private const uint IORING_FEAT_EXT_ARG = 1u << 8;
    private const int EBUSY = 16;                         // completion ring overflowing: reap before submitting more
    private const int ETIME = 62;                         // an EXT_ARG wait that timed out

    private const uint SubmissionEntries = 1024;
    // Completions outstanding at once are bounded by the watched descriptors, not by submissions:
    // a large ring keeps 10,000 connections from overflowing it (the kernel would buffer the excess).
    private const uint CompletionEntries = 16384;
    private const ulong RemoveUserData = ulong.MaxValue; // the POLL_REMOVE completions themselves: ignored

    [StructLayout(LayoutKind.Sequential)]
    private struct KernelTimespec // struct __kernel_timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct GetEventsArg // struct io_uring_getevents_arg
    {
        public ulong SigMask;
        public uint SigMaskSize;
        public uint MinWaitMicroseconds;
        public ulong Timespec;
    }

    private struct Registration
    {
        public Interest Interest;
        public bool Registered;
        public bool Armed;        // a POLL_ADD with the current generation is in the kernel or its completion is unread
        public bool QueuedToArm;  // in _armQueue
        public uint Generation;
    }

    private int _ringFd;
    private readonly byte* _sqRing;
    private readonly byte* _cqRing;
    private readonly uint _sqRingSize;
    private readonly uint _cqRingSize;
    private readonly io_uring_sqe* _sqes;
    private readonly uint _sqesSize;
    private readonly uint* _sqHead;
    private readonly uint* _sqTail;
    private readonly uint _sqMask;
    private readonly uint _sqEntries;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint _cqMask;
    private readonly io_uring_cqe* _cqes;
    private uint _sqLocalTail;

    private Registration[] _registrations = new Registration[1024];
    private int[] _armQueue = new int[64];
    private int _armQueueCount;

    /// <summary>Creates a ring and maps its submission and completion queues.</summary>
    /// <exception cref="MultiplexerException">io_uring is unavailable (old kernel, disabled by sysctl, seccomp or container policy).</exception>
    public IoUringMultiplexer()
    {
        io_uring_params p = default;
        p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        p.cq_entries = CompletionEntries;
        _ringFd = io_uring_setup(SubmissionEntries, &p);
        if (_ringFd < 0)
            throw new MultiplexerException($"io_uring is not available here: io_uring_setup failed: {Errno.Describe(Errno.Last)}");
        try
        {
            if ((p.features & IORING_FEAT_EXT_ARG) == 0)
                throw new MultiplexerException("io_uring is not available here: the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11 or later is needed)");
            _sqRingSize = p.sq_off.array + p.sq_entries * sizeof(uint);
            _cqRingSize = p.cq_off.cqes + p.cq_entries * (uint)sizeof(io_uring_cqe);
            if ((p.features & IORING_FEAT_SINGLE_MMAP) != 0)
                _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
            _sqRing = Map(_sqRingSize, IORING_OFF_SQ_RING);
            _cqRing = (p.features & IORING_FEAT_SINGLE_MMAP) != 0 ? _sqRing : Map(_cqRingSize, IORING_OFF_CQ_RING);
            _sqesSize = p.sq_entries * (uint)sizeof(io_uring_sqe);
            _sqes = (io_uring_sqe*)Map(_sqesSize, IORING_OFF_SQES);
        }
        catch
        {
            Dispose();
            throw;
        }
        _sqHead = (uint*)(_sqRing + p.sq_off.head);
        _sqTail = (uint*)(_sqRing + p.sq_off.tail);
        _sqMask = *(uint*)(_sqRing + p.sq_off.ring_mask);
        _sqEntries = p.sq_entries;
        _cqHead = (uint*)(_cqRing + p.cq_off.head);
        _cqTail = (uint*)(_cqRing + p.cq_off.tail);
        _cqMask = *(uint*)(_cqRing + p.cq_off.ring_mask);
        _cqes = (io_uring_cqe*)(_cqRing + p.cq_off.cqes);
        _sqLocalTail = *_sqTail;
        // The indirection array maps ring slots to SQE slots; the identity map is set once.
        uint* sqArray = (uint*)(_sqRing + p.sq_off.array);
        for (uint i = 0; i < _sqEntries; i++)
            sqArray[i] = i;
    }

    /// <inheritdoc />
    public string Name => "io_uring";

    /// <inheritdoc />
    public long SystemCalls { get; private set; }

    /// <inheritdoc />
    public bool IsEdgeTriggered => false;

    /// <inheritdoc />
    public void Register(int fd, Interest interest)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fd);
        if (fd >= _registrations.Length)
            Array.Resize(ref _registrations, Math.Max(fd + 1, _registrations.Length * 2));
        ref Registration r = ref _registrations[fd];
        if (r.Registered && r.Interest == interest)
            return;
        Invalidate(fd, ref r);
        r.Registered = true;
        r.Interest = interest;
        QueueArm(fd, ref r);
    }

    /// <inheritdoc />
    public void Unregister(int fd)
    {
        if ((uint)fd >= (uint)_registrations.Length || !_registrations[fd].Registered)
            return;
        ref Registration r = ref _registrations[fd];
        bool hadPoll = r.Armed;
        Invalidate(fd, ref r);
        r.Registered = false;
        r.Interest = Interest.None;
        // An armed poll holds a reference to the file: the caller closes the descriptor next, and the
        // socket must really close then (the peer sees FIN), not at the next wait.
        if (hadPoll)
            Enter(waitForOne: false, timeoutMs: 0);
    }

    /// <inheritdoc />
    public int Wait(Span<ReadyEvent> events, int timeoutMs)
    {
        long deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            ArmQueued();
            bool completionsWaiting = Volatile.Read(ref *_cqTail) != *_cqHead;
            bool block = !completionsWaiting && timeoutMs != 0;
            // With nothing to reap, enter even for a zero timeout, as epoll_wait(0) would: it runs
            // the poll wake-ups the kernel has queued for this thread, which post their completions.
            bool interrupted = (!completionsWaiting || Pending > 0) && !Enter(block, timeoutMs);
            int count = Reap(events);
            if (count > 0 || interrupted || timeoutMs == 0)
                return count;
            // Only completions of replaced or removed registrations arrived: wait out the rest.
            if (timeoutMs > 0)
                timeoutMs = (int)Math.Max(0, deadline - Environment.TickCount64);
        }
    }

    /// <summary>Submissions written to the ring but not yet consumed by the kernel.</summary>
    private uint Pending => _sqLocalTail - Volatile.Read(ref *_sqHead);

    /// <summary>Makes any poll in flight for the current registration stale: bump the generation, cancel the poll.</summary>
    private void Invalidate(int fd, ref Registration r)
    {
        if (r.Armed)
        {
            io_uring_sqe remove = default;
            remove.opcode = IORING_OP_POLL_REMOVE;
            remove.fd = -1;
            remove.addr = UserData(fd, r.Generation);
            remove.user_data = RemoveUserData;
            Push(remove);
            r.Armed = false;
        }
        r.Generation++;
    }

    private void QueueArm(int fd, ref Registration r)
    {
        if (r.QueuedToArm || r.Interest == Interest.None)
            return;
        if (_armQueueCount == _armQueue.Length)
            Array.Resize(ref _armQueue, _armQueue.Length * 2);
        _armQueue[_armQueueCount++] = fd;
        r.QueuedToArm = true;
    }

    /// <summary>
    /// Arms a one-shot poll for every descriptor that needs one: new registrations, changed ones,
    /// and those reported by the previous wait. Re-arming only now, after the owner has handled the
    /// previous report, is what makes readiness level-triggered: still readable means reported again.
    /// </summary>
    private void ArmQueued()
    {
        for (int i = 0; i < _armQueueCount; i++)
        {
            int fd = _armQueue[i];
            ref Registration r = ref _registrations[fd];
            r.QueuedToArm = false;
            if (!r.Registered || r.Armed || r.Interest == Interest.None)
                continue;
            io_uring_sqe add = default;
            add.opcode = IORING_OP_POLL_ADD;
            add.fd = fd;
            add.rw_flags = PollMultiplexer.ToPollEvents(r.Interest); // poll32_events; len = 0: one-shot
            add.user_data = UserData(fd, r.Generation);
            Push(add);
            r.Armed = true;
        }
        _armQueueCount = 0;
    }

    private void Push(in io_uring_sqe sqe)
    {
        if (Pending == _sqEntries)
            Enter(waitForOne: false, timeoutMs: 0);
        if (Pending == _sqEntries)
            throw new MultiplexerException("io_uring submission queue is full and the kernel accepts no more entries");
        _sqes[_sqLocalTail & _sqMask] = sqe;
        _sqLocalTail++;
        Volatile.Write(ref *_sqTail, _sqLocalTail); // release: the entry is complete before the kernel sees the tail
    }

    /// <summary>
    /// Submits what is pending and, when asked, waits for one completion or the timeout.
    /// Returns false when the call ended early: timed out, interrupted, or the kernel is short of
    /// memory or completion space for now (whatever completed is reaped, the rest submitted next time).
    /// </summary>
    private bool Enter(bool waitForOne, int timeoutMs)
    {
        KernelTimespec timeout = new() { Seconds = timeoutMs / 1000, Nanoseconds = timeoutMs % 1000 * 1_000_000L };
        // A null timespec with EXT_ARG waits without a time limit.
        GetEventsArg arg = new() { Timespec = waitForOne && timeoutMs > 0 ? (ulong)&timeout : 0 };
        SystemCalls++;
        int rc = (int)syscall(SYS_io_uring_enter, _ringFd, Pending, waitForOne ? 1u : 0u,
            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (void*)&arg, sizeof(GetEventsArg));
        if (rc >= 0)
            return true;
        int errno = Errno.Last;
        if (errno is ETIME or Errno.EINTR or Errno.EAGAIN or EBUSY)
            return false;
        throw new MultiplexerException($"io_uring_enter failed: {Errno.Describe(errno)}");
    }

    /// <summary>Turns completions into events, leaving any that do not fit for the next wait.</summary>
    private int Reap(Span<ReadyEvent> events)
    {
        uint head = *_cqHead;
        uint tail = Volatile.Read(ref *_cqTail); // acquire: entries up to tail are complete
        int count = 0;
        while (head != tail && count < events.Length)
        {
            io_uring_cqe cqe = _cqes[head & _cqMask];
            head++;
            if (TryComplete(cqe, out ReadyEvent ready))
                events[count++] = ready;
        }
        Volatile.Write(ref *_cqHead, head); // release: the kernel may reuse the slots
        return count;
    }

    private bool TryComplete(in io_uring_cqe cqe, out ReadyEvent ready)
    {
        ready = default;
        int fd = (int)(uint)cqe.user_data;
        uint generation = (uint)(cqe.user_data >> 32);
        if (cqe.user_data == RemoveUserData || (uint)fd >= (uint)_registrations.Length)
            return false;
        ref Registration r = ref _registrations[fd];
        if (!r.Registered || !r.Armed || r.Generation != generation)
            return false; // a poll for a registration since replaced or removed
        r.Armed = false;
        QueueArm(fd, ref r);
        // A negative result is an error for the descriptor itself (EBADF after a close without
        // Unregister): report it on the watched paths so the owner's call returns it.
        Interest interest = cqe.res < 0 ? r.Interest : PollMultiplexer.FromPollEvents(cqe.res, r.Interest);
        ready = new ReadyEvent(fd, interest);
        return interest != Interest.None;
    }

    private static ulong UserData(int fd, uint generation) => (ulong)generation << 32 | (uint)fd;

    private byte* Map(uint size, ulong offset)
    {
        void* p = mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, _ringFd, (long)offset);
        if (p == MAP_FAILED)
            throw new MultiplexerException($"io_uring is not available here: mmap of the rings failed: {Errno.Describe(Errno.Last)}");
        return (byte*)p;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ringFd < 0)
            return;
        if (_sqes != null) munmap(_sqes, _sqesSize);
        if (_cqRing != null && _cqRing != _sqRing) munmap(_cqRing, _cqRingSize);
        if (_sqRing != null) munmap(_sqRing, _sqRingSize);
        close(_ringFd);
        _ringFd = -1;
    }
}
