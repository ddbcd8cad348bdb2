using System.Diagnostics;
using System.Globalization;
using System.Text;
using EventLoop.Queueing;
using EventLoop.Reactor;
using EventLoop.Tasks;
using EventLoop.Workers;

namespace EventLoop.Commands;

/// <summary>
/// INFO [section]: what the server and its loop are doing, in Redis's "# Section" / "key:value" text
/// format so existing tooling reads it. Runs on the reactor thread (it reads reactor-owned counters).
/// </summary>
internal sealed class InfoCommand(ReactorLoop reactor, TaskRegistry tasks, Stores.IQueueStore store)
{
    public const string Version = "0.1.0";

    private static readonly string[] Sections = ["server", "clients", "stats", "reactor", "queue", "workers", "tasks", "queueing", "memory"];

    /// <summary>Renders one section, or all for null/"all"/"everything"/"default"; an unknown name renders nothing, as Redis does.</summary>
    public string Render(string? section)
    {
        var text = new StringBuilder(2048);
        string wanted = section?.ToLowerInvariant() ?? "all";
        bool all = wanted is "all" or "everything" or "default";
        foreach (string name in Sections)
        {
            if (!all && name != wanted)
                continue;
            if (text.Length > 0)
                text.Append("\r\n");
            AppendSection(text, name);
        }
        // Listed with the others only when the journal is on, so INFO without it reads as it always did.
        if (wanted == "persistence" || (all && reactor.Journal is not null))
        {
            if (text.Length > 0)
                text.Append("\r\n");
            text.Append("# Persistence\r\n");
            Persistence(text);
        }
        // The same for a store other than memory (which has nothing to add to # Queueing).
        var storeLines = new StringBuilder();
        if (wanted == "store" || all)
            store.AppendInfo((key, value) => Line(storeLines, key, value));
        if (storeLines.Length > 0)
        {
            if (text.Length > 0)
                text.Append("\r\n");
            text.Append("# Store\r\n").Append(storeLines);
        }
        return text.ToString();
    }

    private void AppendSection(StringBuilder text, string name)
    {
        text.Append("# ").Append(char.ToUpperInvariant(name[0])).Append(name[1..]).Append("\r\n");
        switch (name)
        {
            case "server": Server(text); break;
            case "clients": Clients(text); break;
            case "stats": Stats(text); break;
            case "reactor": Reactor(text); break;
            case "queue": Queue(text); break;
            case "workers": Workers(text); break;
            case "tasks": Tasks(text); break;
            case "queueing": Queueing(text); break;
            case "memory": Memory(text); break;
        }
    }

    private void Server(StringBuilder text)
    {
        TimeSpan uptime = DateTime.UtcNow - reactor.StartedAt;
        Line(text, "eventloop_version", Version);
        Line(text, "redis_version", "7.0.0"); // clients gate features on it; we speak the RESP2 subset of 7.0
        Line(text, "os", $"{Environment.OSVersion.Platform} {Environment.OSVersion.Version}");
        Line(text, "dotnet_version", Environment.Version.ToString());
        Line(text, "process_id", Environment.ProcessId);
        Line(text, "tcp_port", reactor.Port);
        Line(text, "multiplexing_api", reactor.BackendName);
        Line(text, "uptime_in_seconds", (long)uptime.TotalSeconds);
        Line(text, "uptime_in_days", (long)uptime.TotalDays);
    }

    private void Clients(StringBuilder text)
    {
        ReactorStats stats = reactor.Stats;
        Line(text, "connected_clients", stats.ConnectedClients);
        Line(text, "maxclients", reactor.Options.MaxClients);
        Line(text, "max_inflight_per_client", reactor.Options.MaxInflight);
        Line(text, "stalled_clients", reactor.OpenConnections().Count(c => c.Stalled));
    }

    private void Stats(StringBuilder text)
    {
        ReactorStats stats = reactor.Stats;
        Line(text, "total_connections_received", stats.ConnectionsAccepted);
        Line(text, "total_commands_processed", stats.Commands);
        Line(text, "instantaneous_ops_per_sec", (long)reactor.OpsPerSecond);
        Line(text, "total_net_input_bytes", stats.BytesRead);
        Line(text, "total_net_output_bytes", stats.BytesWritten);
        Line(text, "rejected_connections", stats.ConnectionsRejected);
        Line(text, "protocol_errors", stats.ProtocolErrors);
        Line(text, "output_limit_disconnects", stats.OutputLimitDisconnects);
        Line(text, "idle_timeout_disconnects", stats.IdleTimeoutDisconnects);
        Line(text, "request_timeout_disconnects", stats.RequestTimeoutDisconnects);
        Line(text, "task_timeouts", stats.TaskTimeouts);
        Line(text, "descriptor_exhaustions", stats.DescriptorExhaustions);
        Line(text, "evicted_clients", reactor.ClientMemory.Evictions);
    }

    private void Reactor(StringBuilder text)
    {
        ReactorStats stats = reactor.Stats;
        long requests = Math.Max(1, stats.Commands);
        Line(text, "backend", reactor.BackendName);
        Line(text, "loop_iterations", stats.Iterations);
        Line(text, "events_returned", stats.EventsReturned);
        Line(text, "events_per_wait", Ratio(stats.EventsReturned, stats.Iterations));
        Line(text, "eventfd_wakeups", stats.Wakeups);
        Line(text, "eventfd_signals", reactor.WakeSignals);
        Line(text, "read_calls", stats.ReadCalls);
        Line(text, "write_calls", stats.WriteCalls);
        Line(text, "accept_calls", stats.AcceptCalls);
        Line(text, "interest_changes", stats.InterestChanges);
        Line(text, "syscalls", stats.Syscalls);
        Line(text, "syscalls_per_request", Ratio(stats.Syscalls, requests));
        Line(text, "reads_per_request", Ratio(stats.ReadCalls, requests));
        Line(text, "writes_per_request", Ratio(stats.WriteCalls, requests));
    }

    private void Queue(StringBuilder text)
    {
        ReactorStats stats = reactor.Stats;
        WorkerPool workers = reactor.Workers;
        Line(text, "ring_capacity", workers.RingCapacity);
        Line(text, "ring_depth", workers.RingDepth);
        Line(text, "ring_full_stalls", stats.RingFullStalls);
        Line(text, "inflight_pauses", stats.InflightPauses);
        Line(text, "tasks_submitted", stats.TasksSubmitted);
        Line(text, "tasks_completed", stats.TasksCompleted);
        Line(text, "tasks_in_progress", stats.TasksSubmitted - stats.TasksCompleted);
        InlineTaskRunner inline = reactor.InlineTasks;
        Line(text, "inline_tasks", inline.Enabled ? "on" : "off");
        Line(text, "inline_short_run_us", inline.ShortRunTicks * 1_000_000 / System.Diagnostics.Stopwatch.Frequency);
        Line(text, "tasks_run_inline", inline.Runs);
        Line(text, "inline_demotions", inline.Demotions);
    }

    private void Workers(StringBuilder text)
    {
        WorkerPool workers = reactor.Workers;
        Line(text, "workers", workers.WorkerCount);
        Line(text, "workers_parked", workers.Parked);
        Line(text, "workers_replaced", workers.Replaced);
        TimeSpan uptime = DateTime.UtcNow - reactor.StartedAt;
        foreach (WorkerSlot slot in workers.Slots)
        {
            double busy = uptime.TotalSeconds > 0 ? slot.Busy.TotalSeconds / uptime.TotalSeconds : 0;
            Line(text, $"worker{slot.Index}", $"tasks={slot.Tasks},busy_seconds={Format(slot.Busy.TotalSeconds)},busy_ratio={Format(busy)},state={(slot.Retired ? "retired" : slot.BusySince != 0 ? "busy" : "idle")}");
        }
        // External workers: connections that FETCH.
        LeaseTotals leases = store.Leases;
        Line(text, "external_fetchers", reactor.Fetchers);
        Line(text, "external_blocked_fetchers", store.BlockedFetches);
        if (store.LeasedTasks is { } leased)
            Line(text, "external_leased_tasks", leased);
        Line(text, "external_leases_total", leases.Fetched);
        Line(text, "external_leases_lost", leases.Lost);
        Line(text, "external_lease_expiries", leases.Expired);
        Line(text, "external_requeued_on_close", leases.RequeuedOnClose);
        Line(text, "external_stale_refused", leases.StaleRefused);
    }

    private void Tasks(StringBuilder text)
    {
        foreach (TaskDefinition task in tasks.All)
        {
            TaskRunHistory runs = task.Runs;
            Line(text, "task_" + task.Name, $"{(task.AsyncHandler is null ? "sync" : "async")},runs_on={(runs.Inline ? "reactor" : runs.WorkersOnly ? "workers-only" : "workers")},reactor_stalls={runs.Stalls}");
        }
    }

    /// <summary>
    /// The in-memory queue's figures, and this node's parked requests and timers. On PostgreSQL only the node's own
    /// lines: the queue's figures would be the unused in-memory store's zeros (QUEUES, DEAD LIST and the dashboard tell them).
    /// </summary>
    private void Queueing(StringBuilder text)
    {
        if (store.Totals is not { } totals)
        {
            NodeQueueing(text);
            return;
        }
        TaskStore memory = reactor.Store;
        Line(text, "tasks", memory.Count);
        foreach (TaskState state in Enum.GetValues<TaskState>())
            Line(text, "tasks_" + Encoding.ASCII.GetString(state.Word()), memory.CountIn(state));
        Line(text, "submitted_total", totals.Submitted);
        Line(text, "succeeded_total", totals.Succeeded);
        Line(text, "failed_total", totals.Failed);
        Line(text, "retried_total", totals.Retried);
        Line(text, "cancelled_total", totals.Cancelled);
        Line(text, "expired_total", totals.Expired);
        Line(text, "schedule_firings_total", totals.ScheduleFirings);
        Line(text, "schedule_firings_skipped", totals.ScheduleFiringsSkipped);
        NodeQueueing(text);
        long oldest = memory.OldestReadyCreatedMs();
        Line(text, "oldest_queued_age_ms", oldest == 0 ? 0 : Math.Max(0, memory.Clock.UnixMs - oldest));
        Line(text, "queues", memory.Queues.Count());
        Line(text, "schedules", memory.ScheduleCount);
        Line(text, "dead", memory.DeadCount);
        foreach (TaskQueue queue in memory.Queues)
            Line(text, "queue_" + queue.Name, $"queued={queue.Queued},running={queue.Running},scheduled={queue.Waiting},paused={(queue.Paused ? 1 : 0)}");
    }

    private void NodeQueueing(StringBuilder text)
    {
        Line(text, "timers_pending", reactor.Timers.Count);
        Line(text, "parked_connections", reactor.Parked.Connections);
        Line(text, "parked_requests", reactor.Parked.Count);
    }

    private void Memory(StringBuilder text)
    {
        using Process self = Process.GetCurrentProcess();
        Line(text, "used_memory_rss", self.WorkingSet64);
        Line(text, "mem_clients_normal", reactor.ClientMemory.Held);
        Line(text, "maxmemory_clients", reactor.ClientMemory.Budget);
        Line(text, "reactor_pooled_buffers", reactor.PooledBuffers);
        Line(text, "gc_heap_bytes", GC.GetTotalMemory(forceFullCollection: false));
        Line(text, "gc_allocated_bytes", GC.GetTotalAllocatedBytes());
        Line(text, "gc_gen0_collections", GC.CollectionCount(0));
        Line(text, "gc_gen1_collections", GC.CollectionCount(1));
        Line(text, "gc_gen2_collections", GC.CollectionCount(2));
        // Every thread stops for these, the reactor too: with millions of tasks held the full collections are
        // what sets the longest round trip (docs/tasks.md), so they are shown apart from the young ones.
        Line(text, "gc_pause_total_ms", Format(GC.GetTotalPauseDuration().TotalMilliseconds));
        Line(text, "gc_last_full_pause_ms", LastPauseMs(GCKind.FullBlocking));
        Line(text, "gc_last_ephemeral_pause_ms", LastPauseMs(GCKind.Ephemeral));
    }

    /// <summary>The stops of the latest collection of <paramref name="kind"/>, summed (0 before the first).</summary>
    private static string LastPauseMs(GCKind kind)
    {
        double total = 0;
        foreach (TimeSpan pause in GC.GetGCMemoryInfo(kind).PauseDurations)
            total += pause.TotalMilliseconds;
        return Format(total);
    }

    private static string Ratio(long numerator, long denominator) =>
        Format(denominator == 0 ? 0 : (double)numerator / denominator);

    private static string Format(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private void Persistence(StringBuilder text)
    {
        Journal.TaskJournal? journal = reactor.Journal;
        Line(text, "appendonly", journal is null ? "no" : "yes");
        if (journal is null)
            return;
        Journal.JournalProgress progress = journal.Progress;
        ServerOptions options = reactor.Options;
        Line(text, "appendfsync", Journal.FsyncPolicies.Name(options.AppendFsync));
        Line(text, "journal_path", journal.Path);
        Line(text, "journal_file_size", progress.FileSize);
        Line(text, "journal_written_offset", progress.FileSize);
        Line(text, "journal_fsynced_offset", progress.SyncedOffset);
        Line(text, "journal_base_size", journal.BaseSize);
        Line(text, "journal_last_lsn", journal.LastLsn);
        Line(text, "journal_written_lsn", progress.WrittenLsn);
        Line(text, "journal_fsynced_lsn", progress.SyncedLsn);
        Line(text, "journal_records_written", journal.RecordsWritten);
        Line(text, "journal_bytes_written", progress.BytesWritten);
        Line(text, "journal_batches", progress.Batches);
        Line(text, "journal_fsyncs", progress.Fsyncs);
        Line(text, "journal_fsync_p50_us", journal.FsyncPercentileMicros(0.50));
        Line(text, "journal_fsync_p99_us", journal.FsyncPercentileMicros(0.99));
        Line(text, "journal_held_replies", journal.HeldReplies);
        Line(text, "journal_wait", reactor.JournalWait.Polls ? "poll" : "sleep");
        Line(text, "journal_wait_yields", reactor.JournalWait.Yields);
        Line(text, "journal_last_write_status", progress.Error is null ? "ok" : "err");
        Line(text, "journal_last_write_error", progress.Error ?? "");
        Line(text, "journal_rewrite_in_progress", journal.RewriteInProgress ? 1 : 0);
        Line(text, "journal_rewrites", journal.Rewrites);
        Line(text, "journal_last_rewrite_time", journal.LastRewriteAt is { } at ? new DateTimeOffset(at).ToUnixTimeSeconds() : 0);
        Line(text, "journal_last_rewrite_seconds", journal.LastRewriteSeconds.ToString("0.###", CultureInfo.InvariantCulture));
        Line(text, "journal_last_rewrite_error", journal.LastRewriteError ?? "");
        Line(text, "journal_rewrite_longest_step_ms", journal.LongestRewriteStepMs.ToString("0.###", CultureInfo.InvariantCulture));
        Line(text, "journal_recovered_records", journal.Replay.Records);
        Line(text, "journal_recovery_ms", (long)journal.Replay.Elapsed.TotalMilliseconds);
        Line(text, "journal_recovery_truncated_bytes", journal.Replay.TruncatedBytes);
    }

    private static void Line(StringBuilder text, string key, object value) =>
        text.Append(key).Append(':').Append(Convert.ToString(value, CultureInfo.InvariantCulture)).Append("\r\n");
}
