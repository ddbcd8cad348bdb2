using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using EventLoop.Queues;

namespace EventLoop.Benchmarks;

/// <summary>
/// Moves one million items from one producer (the benchmark thread) to <see cref="Consumers"/>
/// consumer threads through three queues bounded at 1024: <see cref="BoundedRingQueue{T}"/>,
/// <see cref="ConcurrentQueue{T}"/> (the producer waits while its Count is at the bound) and a bounded
/// <see cref="Channel{T}"/> used through TryWrite/TryRead, so the data structures are compared rather
/// than the awaiting. Every side waits the same way: spin briefly, then yield (the machine has two
/// cores, so with three consumers a spinning thread must give its core away). One payload instance is
/// reused, so the allocation column shows only what the queue itself costs.
/// </summary>
/// <remarks>
/// Run: <c>dotnet run -c Release --project benchmarks/EventLoop.Benchmarks -- --filter '*RingQueue*' --job short</c>
/// </remarks>
[MemoryDiagnoser]
[ThreadingDiagnoser]
public class RingQueueBenchmarks
{
    private const int Items = 1_000_000;
    private const int Bound = 1024;
    private static readonly Payload Item = new();
    private static readonly Payload Stop = new(); // one per consumer follows the items

    private BoundedRingQueue<Payload> _ring = null!;
    private ConcurrentQueue<Payload> _concurrentQueue = null!;
    private Channel<Payload> _channel = null!;

    /// <summary>Number of consumer threads.</summary>
    [Params(1, 3)]
    public int Consumers { get; set; }

    /// <summary>Creates the queues once per parameter set; every invocation leaves them empty.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _ring = new BoundedRingQueue<Payload>(Bound);
        _concurrentQueue = new ConcurrentQueue<Payload>();
        _channel = Channel.CreateBounded<Payload>(new BoundedChannelOptions(Bound) { SingleWriter = true });
    }

    /// <summary>Through <see cref="BoundedRingQueue{T}"/>.</summary>
    [Benchmark(Baseline = true, OperationsPerInvoke = Items)]
    public void RingQueue() => Transfer(new RingAdapter(_ring));

    /// <summary>Through <see cref="ConcurrentQueue{T}"/>, kept bounded by the producer.</summary>
    [Benchmark(OperationsPerInvoke = Items)]
    public void ConcurrentQueueCapped() => Transfer(new ConcurrentQueueAdapter(_concurrentQueue));

    /// <summary>Through a bounded <see cref="Channel{T}"/>, synchronous Try* calls only.</summary>
    [Benchmark(OperationsPerInvoke = Items)]
    public void BoundedChannel() => Transfer(new ChannelAdapter(_channel));

    // Generic over a struct so the JIT specialises each variant and inlines the queue calls:
    // one transfer loop for all three, without the cost of a delegate or interface call per item.
    private void Transfer<TQueue>(TQueue queue) where TQueue : struct, IQueueAdapter
    {
        var consumers = new Thread[Consumers];
        for (int i = 0; i < consumers.Length; i++)
        {
            consumers[i] = new Thread(() => ConsumeUntilStop(queue)) { IsBackground = true };
            consumers[i].Start();
        }
        for (int i = 0; i < Items; i++)
            Add(queue, Item);
        foreach (Thread _ in consumers)
            Add(queue, Stop);
        foreach (Thread consumer in consumers)
            consumer.Join();
    }

    private static void Add<TQueue>(TQueue queue, Payload item) where TQueue : struct, IQueueAdapter
    {
        var spinner = new SpinWait();
        while (!queue.TryAdd(item))
            spinner.SpinOnce(sleep1Threshold: -1); // spin, then yield; never sleep a whole millisecond
    }

    private static void ConsumeUntilStop<TQueue>(TQueue queue) where TQueue : struct, IQueueAdapter
    {
        var spinner = new SpinWait();
        while (true)
        {
            if (!queue.TryTake(out Payload? item))
            {
                spinner.SpinOnce(sleep1Threshold: -1);
                continue;
            }
            if (ReferenceEquals(item, Stop))
                return;
            spinner.Reset();
        }
    }

    private sealed class Payload;

    private interface IQueueAdapter
    {
        bool TryAdd(Payload item);

        bool TryTake([NotNullWhen(true)] out Payload? item);
    }

    private readonly struct RingAdapter(BoundedRingQueue<Payload> ring) : IQueueAdapter
    {
        public bool TryAdd(Payload item) => ring.TryEnqueue(item);

        public bool TryTake([NotNullWhen(true)] out Payload? item) => ring.TryDequeue(out item);
    }

    private readonly struct ConcurrentQueueAdapter(ConcurrentQueue<Payload> queue) : IQueueAdapter
    {
        // Exact with a single producer: only this thread raises Count.
        public bool TryAdd(Payload item)
        {
            if (queue.Count >= Bound)
                return false;
            queue.Enqueue(item);
            return true;
        }

        public bool TryTake([NotNullWhen(true)] out Payload? item) => queue.TryDequeue(out item);
    }

    private readonly struct ChannelAdapter(Channel<Payload> channel) : IQueueAdapter
    {
        public bool TryAdd(Payload item) => channel.Writer.TryWrite(item);

        public bool TryTake([NotNullWhen(true)] out Payload? item) => channel.Reader.TryRead(out item);
    }
}
