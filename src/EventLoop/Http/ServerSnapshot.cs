using EventLoop.Stores;

namespace EventLoop.Http;

/// <summary>
/// What the HTTP endpoint knows of the server: an immutable copy of reactor-owned state, built on the
/// reactor thread and published by reference (<see cref="SnapshotPublisher"/>), so Kestrel's threads read
/// it without locks and never touch a reactor-owned object. Times are Unix milliseconds.
/// </summary>
internal sealed record ServerSnapshot
{
    /// <summary>When the reactor built it.</summary>
    public required long TakenAtMs { get; init; }
    public required string Version { get; init; }
    public required string Backend { get; init; }
    public required int Port { get; init; }
    public required long UptimeSeconds { get; init; }
    public required int Connections { get; init; }
    public required int MaxClients { get; init; }
    public required double OpsPerSecond { get; init; }
    public required ReactorView Reactor { get; init; }
    public required WorkersView Workers { get; init; }
    public required TotalsView Totals { get; init; }
    public required IReadOnlyList<QueueView> Queues { get; init; }
    /// <summary>Failed tasks in the dead set (all of them; <see cref="Dead"/> lists the oldest <see cref="QueueOverview.DeadListed"/>).</summary>
    public required long DeadCount { get; init; }
    public required IReadOnlyList<DeadTaskView> Dead { get; init; }
    public required IReadOnlyList<ScheduleView> Schedules { get; init; }
    /// <summary>
    /// When the store read the queue's figures above (totals, queues, dead set, schedules): 0 until it first did, the
    /// figures then being empty rather than zero. In memory, at each snapshot; PostgreSQL's may be seconds older.
    /// </summary>
    public required long QueueReadAtMs { get; init; }
    /// <summary>Why the store could not read the queue's figures lately (the database down…), the figures then being as of <see cref="QueueReadAtMs"/>; null when it could.</summary>
    public required string? QueueError { get; init; }
    public required ExternalView External { get; init; }
}

/// <summary>The loop's counters since start, and the ratios INFO reactor shows.</summary>
internal sealed record ReactorView(
    long Iterations, long EventsReturned, double EventsPerWait, long Syscalls, double SyscallsPerRequest,
    long ReadCalls, long WriteCalls, long Wakeups, long Commands, long BytesRead, long BytesWritten, int RingDepth, int RingCapacity);

/// <summary>In-process workers: how many, how many run a task now, how many wait for work.</summary>
internal sealed record WorkersView(int Count, int Busy, int Parked, long TasksSubmitted, long TasksCompleted);

/// <summary>
/// The task queue's totals: tasks held and the oldest ready one's age from the store's overview; the counters since
/// start (INFO queueing) are null on PostgreSQL, where one node sees only its own share of them.
/// </summary>
internal sealed record TotalsView(long Tasks, long? Submitted, long? Succeeded, long? Failed, long? Retried, long? Cancelled, long? Expired, long OldestQueuedAgeMs);

/// <summary>External workers (connections that FETCH) and the leases they hold (the first <see cref="SnapshotPublisher.LeasesListed"/>).</summary>
internal sealed record ExternalView(int Fetchers, int BlockedFetches, int LeasedTasks, long LeasesTotal, long LeaseExpiries, IReadOnlyList<FetcherView> Workers);

/// <summary>One connection that fetches, with its leases.</summary>
internal sealed record FetcherView(long ClientId, string? Name, IReadOnlyList<LeaseView> Leases);

/// <summary>One lease: the task, the attempt it fences, and how long until it expires.</summary>
internal sealed record LeaseView(string TaskId, string Task, string Queue, int Attempt, long ExpiresInMs);
