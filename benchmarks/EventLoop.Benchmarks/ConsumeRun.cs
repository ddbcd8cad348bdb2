using System.Diagnostics;
using System.Text;
using System.Text.Json;
using EventLoop.Client;

namespace EventLoop.Benchmarks;

/// <summary>
/// <c>consume</c>: how fast a .NET worker drains a queue over the .NET client, the same code shape against
/// both servers. EventLoop: <c>FETCH COUNT n FROM q</c>, then one <c>ACK</c> per task, pipelined. Redis Streams:
/// <c>XREADGROUP … COUNT n</c>, then one <c>XACK</c> with the batch's ids. Both send a batch's acknowledgements
/// and the next batch's read together and then wait, one round trip per batch. The queue is filled first (pipelined
/// SUBMIT of an external task / XADD, 64-byte payloads); only the draining is timed, after an untimed warm-up round
/// of the same. Prints one JSON line, with the client's own cost per task while draining: CPU (the whole process),
/// bytes allocated (every thread) and gen-0 collections; and the server's CPU per task when its pid is given.
/// </summary>
/// <remarks>
/// Run: <c>dotnet artifacts/bin/EventLoop.Benchmarks/Release/net10.0/EventLoop.Benchmarks.dll consume
/// --system eventloop|redis --port P --tasks 200000 --count 64 --workers 4 [--warmup 100000] [--server-pid PID]</c>
/// (benchmarks/workers.sh runs it).
/// </remarks>
internal static class ConsumeRun
{
    public static async Task<int> RunAsync(string[] args)
    {
        string system = Option(args, "--system", "eventloop");
        int port = int.Parse(Option(args, "--port", "7379"));
        int tasks = int.Parse(Option(args, "--tasks", "200000"));
        int count = int.Parse(Option(args, "--count", "64"));
        int workers = int.Parse(Option(args, "--workers", "4"));
        int warmup = int.Parse(Option(args, "--warmup", "100000"));

        int? serverPid = args.Contains("--server-pid") ? int.Parse(Option(args, "--server-pid", "")) : null;

        await using EventLoopClient producer = await EventLoopClient.ConnectAsync("127.0.0.1", port);
        if (system == "redis")
        {
            await producer.ExecuteAsync("DEL", "bench-stream");
            await producer.ExecuteAsync("XGROUP", "CREATE", "bench-stream", "workers", "$", "MKSTREAM");
        }
        EventLoopClient[] clients = await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => EventLoopClient.ConnectAsync("127.0.0.1", port)));
        // Untimed first: the JIT's tiering, in the client and in EventLoop's server, would otherwise be part of a run of a
        // second or two (a perf profile of the server's first seconds of FETCH/ACK showed a third of its samples compiling).
        await FillAsync(producer, system, warmup);
        await DrainAllAsync(clients, system, count);

        await FillAsync(producer, system, tasks);
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        int collectionsBefore = GC.CollectionCount(0);
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan serverBefore = ServerCpu(serverPid);
        var clock = Stopwatch.StartNew();
        int remaining = tasks - await DrainAllAsync(clients, system, count);
        clock.Stop();
        TimeSpan serverCpu = ServerCpu(serverPid) - serverBefore;
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        int collections = GC.CollectionCount(0) - collectionsBefore;
        foreach (EventLoopClient client in clients)
            await client.DisposeAsync();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            system,
            tasks,
            count,
            workers,
            seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            tasks_per_second = Math.Round((tasks - Math.Max(0, remaining)) / clock.Elapsed.TotalSeconds),
            unfinished = Math.Max(0, remaining),
            client_cpu_us_per_task = Math.Round(cpu.TotalMicroseconds / tasks, 2),
            client_allocated_bytes_per_task = Math.Round((double)allocated / tasks, 1),
            client_gen0_collections = collections,
            server_cpu_us_per_task = serverPid is null ? (double?)null : Math.Round(serverCpu.TotalMicroseconds / tasks, 2),
        }));
        return remaining > 0 ? 1 : 0;
    }

    private static readonly string Payload = new('x', 64);

    private static async Task FillAsync(EventLoopClient producer, string system, int tasks)
    {
        for (int sent = 0; sent < tasks; sent += 1000)
        {
            int batch = Math.Min(1000, tasks - sent);
            RespValue[] replies = await Task.WhenAll(Enumerable.Range(0, batch).Select(_ => system == "redis"
                ? producer.ExecuteAsync("XADD", "bench-stream", "*", "body", Payload)
                : producer.ExecuteAsync("SUBMIT", "bench-external", "QUEUE", "bench", "ARGS", Payload)));
            // A refused task (past --max-tasks: the warm-up's results are still kept) would make the run look short.
            if (replies.FirstOrDefault(reply => reply.IsError) is { } refused)
                throw new InvalidOperationException($"filling the queue failed: {refused}");
        }
    }

    /// <summary>Every worker drains until its read finds nothing; returns the tasks acknowledged.</summary>
    private static async Task<int> DrainAllAsync(EventLoopClient[] clients, string system, int count) =>
        (await Task.WhenAll(clients.Select((client, worker) =>
            system == "redis" ? DrainStreamAsync(client, worker, count) : DrainQueueAsync(client, count)))).Sum();

    /// <summary>The server's CPU time (user + system) from /proc, or zero without a pid.</summary>
    private static TimeSpan ServerCpu(int? pid)
    {
        if (pid is null)
            return TimeSpan.Zero;
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11]) + long.Parse(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
        return TimeSpan.FromSeconds(ticks / 100.0); // USER_HZ is 100 on Linux
    }

    /// <summary>Drains the queue until a FETCH finds it empty; returns the tasks acknowledged.</summary>
    private static async Task<int> DrainQueueAsync(EventLoopClient client, int count)
    {
        int done = 0;
        IReadOnlyList<FetchedTask> batch = await client.FetchAsync(["bench"], count);
        while (batch.Count > 0)
        {
            var acks = new (FetchedTask, ReadOnlyMemory<byte>)[batch.Count];
            for (int i = 0; i < acks.Length; i++)
                acks[i] = (batch[i], ReadOnlyMemory<byte>.Empty);
            Task<DeliveryOutcome[]> acked = client.AckManyAsync(acks);
            Task<IReadOnlyList<FetchedTask>> next = client.FetchAsync(["bench"], count); // rides with the ACKs
            foreach (DeliveryOutcome outcome in await acked)
                done += outcome == DeliveryOutcome.Accepted ? 1 : 0;
            batch = await next;
        }
        return done;
    }

    /// <summary>The same shape over Redis Streams: one XACK per batch, sent with the next XREADGROUP.</summary>
    private static async Task<int> DrainStreamAsync(EventLoopClient client, int worker, int count)
    {
        string[] read = ["XREADGROUP", "GROUP", "workers", $"w{worker}", "COUNT", count.ToString(), "STREAMS", "bench-stream", ">"];
        int done = 0;
        RespValue reply = await client.ExecuteAsync(read);
        while (Entries(reply) is { Count: > 0 } entries)
        {
            string[] ack = ["XACK", "bench-stream", "workers", .. entries.Select(e => e.Elements[0].Text!)];
            Task<RespValue> acked = client.ExecuteAsync(ack);
            Task<RespValue> next = client.ExecuteAsync(read);
            done += (int)(await acked).IntegerValue;
            reply = await next;
        }
        return done;

        static IReadOnlyList<RespValue> Entries(RespValue reply) =>
            reply.IsNull || reply.Elements.Count == 0 ? [] : reply.Elements[0].Elements[1].Elements;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }
}
