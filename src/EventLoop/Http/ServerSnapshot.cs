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
    /// <summary>Failed tasks in the dead set (all of them; <see cref="Dead"/> lists the oldest <see cref="SnapshotPublisher.DeadListed"/>).</summary>
    public required int DeadCount { get; init; }
    public required IReadOnlyList<DeadTaskView> Dead { get; init; }
    public required IReadOnlyList<ScheduleView> Schedules { get; init; }
    public required ExternalView External { get; init; }
}

/// <summary>The loop's counters since start, and the ratios INFO reactor shows.</summary>
internal sealed record ReactorView(
    long Iterations, long EventsReturned, double EventsPerWait, long Syscalls, double SyscallsPerRequest,
    long ReadCalls, long WriteCalls, long Wakeups, long Commands, long BytesRead, long BytesWritten, int RingDepth, int RingCapacity);

/// <summary>In-process workers: how many, how many run a task now, how many wait for work.</summary>
internal sealed record WorkersView(int Count, int Busy, int Parked, long TasksSubmitted, long TasksCompleted);

/// <summary>The task queue's totals since start (INFO queueing).</summary>
internal sealed record TotalsView(int Tasks, long Submitted, long Succeeded, long Failed, long Retried, long Cancelled, long Expired, long OldestQueuedAgeMs);

/// <summary>One queue: ready tasks, running ones, ones waiting for their time (delay, backoff), paused or not.</summary>
internal sealed record QueueView(string Name, int Queued, int Running, int Scheduled, bool Paused);

/// <summary>A task in the dead set.</summary>
internal sealed record DeadTaskView(string Id, string Task, string Queue, string? Error, long FinishedAtMs, int Attempt);

/// <summary>A periodic schedule and when it fires next (0: never again).</summary>
internal sealed record ScheduleView(string Name, string Spec, string Task, string Queue, long NextFireMs);

/// <summary>External workers (connections that FETCH) and the leases they hold (the first <see cref="SnapshotPublisher.LeasesListed"/>).</summary>
internal sealed record ExternalView(int Fetchers, int BlockedFetches, int LeasedTasks, long LeasesTotal, long LeaseExpiries, IReadOnlyList<FetcherView> Workers);

/// <summary>One connection that fetches, with its leases.</summary>
internal sealed record FetcherView(long ClientId, string? Name, IReadOnlyList<LeaseView> Leases);

/// <summary>One lease: the task, the attempt it fences, and how long until it expires.</summary>
internal sealed record LeaseView(string TaskId, string Task, string Queue, int Attempt, long ExpiresInMs);
