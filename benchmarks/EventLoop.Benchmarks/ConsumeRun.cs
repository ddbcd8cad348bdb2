using System.Diagnostics;
using System.Text;
using System.Text.Json;
using EventLoop.Client;

namespace EventLoop.Benchmarks;

/// <summary>
/// <c>consume</c>: how fast a .NET worker drains a queue over the .NET client, the same code shape against
/// both servers. EventLoop: <c>FETCH COUNT n FROM q</c>, then one <c>ACK</c> per task, pipelined. Redis Streams:
/// <c>XREADGROUP … COUNT n</c>, then one <c>XACK</c> with the batch's ids. The queue is filled first (pipelined
/// SUBMIT of an external task / XADD, 64-byte payloads); only the draining is timed. Prints one JSON line.
/// </summary>
/// <remarks>
/// Run: <c>dotnet artifacts/bin/EventLoop.Benchmarks/Release/net10.0/EventLoop.Benchmarks.dll consume
/// --system eventloop|redis --port P --tasks 200000 --count 64 --workers 4</c> (benchmarks/workers.sh runs it).
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
        string payload = new('x', 64);

        await using EventLoopClient producer = await EventLoopClient.ConnectAsync("127.0.0.1", port);
        if (system == "redis")
        {
            await producer.ExecuteAsync("DEL", "bench-stream");
            await producer.ExecuteAsync("XGROUP", "CREATE", "bench-stream", "workers", "$", "MKSTREAM");
        }
        for (int sent = 0; sent < tasks; sent += 1000)
        {
            int batch = Math.Min(1000, tasks - sent);
            await Task.WhenAll(Enumerable.Range(0, batch).Select(_ => system == "redis"
                ? producer.ExecuteAsync("XADD", "bench-stream", "*", "body", payload)
                : producer.ExecuteAsync("SUBMIT", "bench-external", "QUEUE", "bench", "ARGS", payload)));
        }

        int remaining = tasks;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async worker =>
        {
            await using EventLoopClient client = await EventLoopClient.ConnectAsync("127.0.0.1", port);
            while (Volatile.Read(ref remaining) > 0)
            {
                int done = system == "redis" ? await DrainStreamAsync(client, worker, count) : await DrainQueueAsync(client, count);
                if (done == 0)
                    break;
                Interlocked.Add(ref remaining, -done);
            }
        }));
        clock.Stop();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            system,
            tasks,
            count,
            workers,
            seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            tasks_per_second = Math.Round((tasks - Math.Max(0, remaining)) / clock.Elapsed.TotalSeconds),
            unfinished = Math.Max(0, remaining),
        }));
        return remaining > 0 ? 1 : 0;
    }

    private static async Task<int> DrainQueueAsync(EventLoopClient client, int count)
    {
        IReadOnlyList<FetchedTask> batch = await client.FetchAsync(["bench"], count);
        DeliveryOutcome[] outcomes = await client.AckManyAsync([.. batch.Select(task => (task, ReadOnlyMemory<byte>.Empty))]);
        return outcomes.Count(o => o == DeliveryOutcome.Accepted);
    }

    private static async Task<int> DrainStreamAsync(EventLoopClient client, int worker, int count)
    {
        RespValue reply = await client.ExecuteAsync("XREADGROUP", "GROUP", "workers", $"w{worker}", "COUNT", count.ToString(), "STREAMS", "bench-stream", ">");
        if (reply.IsNull || reply.Elements.Count == 0)
            return 0;
        IReadOnlyList<RespValue> entries = reply.Elements[0].Elements[1].Elements;
        if (entries.Count == 0)
            return 0;
        string[] ack = ["XACK", "bench-stream", "workers", .. entries.Select(e => e.Elements[0].Text!)];
        RespValue acked = await client.ExecuteAsync(ack);
        return (int)acked.IntegerValue;
    }

    private static string Option(string[] args, string name, string fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }
}
