using System.Runtime.CompilerServices;
using EventLoop.Queues;

namespace EventLoop.Tests.Queues;

public sealed class BoundedRingQueueTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(-1)]
    [InlineData(-2)]
    [InlineData(3)]
    [InlineData(6)]
    [InlineData(1000)]
    [InlineData(int.MinValue)]
    [InlineData(int.MaxValue)]
    public void Constructor_RejectsCapacityThatIsNotAPowerOfTwoOfAtLeastTwo(int capacity)
    {
        Assert.False(BoundedRingQueue<int>.IsValidCapacity(capacity));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BoundedRingQueue<int>(capacity));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(1024)]
    [InlineData(1 << 30)]
    public void IsValidCapacity_AcceptsPowersOfTwoFromTwo(int capacity)
    {
        Assert.True(BoundedRingQueue<int>.IsValidCapacity(capacity));
    }

    [Fact]
    public void SingleThread_DequeuesInEnqueueOrder()
    {
        var queue = new BoundedRingQueue<int>(16);
        for (int i = 0; i < 10; i++)
            Assert.True(queue.TryEnqueue(i));
        Assert.Equal(10, queue.Count);

        for (int i = 0; i < 10; i++)
        {
            Assert.True(queue.TryDequeue(out int item));
            Assert.Equal(i, item);
        }
        Assert.Equal(0, queue.Count);
    }

    [Fact]
    public void TryEnqueue_ReturnsFalseWhenFull_AndSucceedsAgainOnceAnItemLeaves()
    {
        var queue = new BoundedRingQueue<int>(8);
        for (int i = 0; i < 8; i++)
            Assert.True(queue.TryEnqueue(i));

        Assert.False(queue.TryEnqueue(99));
        Assert.Equal(8, queue.Count);

        Assert.True(queue.TryDequeue(out int first));
        Assert.Equal(0, first);
        Assert.True(queue.TryEnqueue(8));
        Assert.False(queue.TryEnqueue(99));
        Assert.Equal(8, queue.Count);
    }

    [Fact]
    public void TryDequeue_ReturnsFalseAndDefaultWhenEmpty()
    {
        var queue = new BoundedRingQueue<string>(4);
        Assert.False(queue.TryDequeue(out string? item));
        Assert.Null(item);

        Assert.True(queue.TryEnqueue("a"));
        Assert.True(queue.TryDequeue(out item));
        Assert.Equal("a", item);
        Assert.False(queue.TryDequeue(out item));
        Assert.Null(item);
    }

    [Fact]
    public void WrapAround_KeepsOrderAndCountOverManyLapsAtEveryFillLevel()
    {
        const int Capacity = 4;
        var queue = new BoundedRingQueue<long>(Capacity);
        long nextIn = 0, nextOut = 0;
        for (int round = 0; round < 1000; round++)
        {
            int fill = 1 + round % Capacity; // 1..Capacity, so the slots' laps drift apart
            for (int i = 0; i < fill; i++)
                Assert.True(queue.TryEnqueue(nextIn++));
            Assert.Equal(fill, queue.Count);
            if (fill == Capacity)
                Assert.False(queue.TryEnqueue(-1));

            for (int i = 0; i < fill; i++)
            {
                Assert.True(queue.TryDequeue(out long item));
                Assert.Equal(nextOut++, item);
            }
            Assert.False(queue.TryDequeue(out _));
        }
        Assert.True(nextIn > 600 * Capacity, "the test must run the ring over many laps");
    }

    [Fact]
    public void TryDequeue_ClearsTheSlotSoTheItemCanBeCollected()
    {
        var queue = new BoundedRingQueue<object>(4);
        WeakReference dequeued = EnqueueAndDequeueFreshObject(queue);

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        Assert.False(dequeued.IsAlive);
    }

    [Fact]
    public void EnqueueDequeuePairs_AfterWarmUp_AllocateNothing()
    {
        var queue = new BoundedRingQueue<object>(16);
        object item = new();
        RunPairs(queue, item, 10_000); // JIT and tiering settle here

        long before = GC.GetAllocatedBytesForCurrentThread();
        int failures = RunPairs(queue, item, 10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, failures);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(4, 4)]
    [InlineData(1, 3)]
    public void ConcurrentProducersAndConsumers_TakeEveryItemOnceInEachProducersOrder(int producers, int consumers)
    {
        var stress = new StressRun(producers, totalItems: 2_000_000, capacity: 64);
        for (int p = 0; p < producers; p++)
        {
            int producer = p;
            stress.Start(() => stress.Produce(producer));
        }
        for (int c = 0; c < consumers; c++)
            stress.Start(stress.Consume);

        bool finished = stress.JoinAll(TimeSpan.FromSeconds(30));

        Assert.True(finished, "stress run did not finish within 30 s");
        Assert.Null(stress.Failure);
        stress.AssertEveryItemTakenExactlyOnce();
        Assert.Equal(0, stress.Queue.Count);
        Assert.False(stress.Queue.TryDequeue(out _));
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // the fresh object must not outlive this frame
    private static WeakReference EnqueueAndDequeueFreshObject(BoundedRingQueue<object> queue)
    {
        object item = new();
        Assert.True(queue.TryEnqueue(item));
        Assert.True(queue.TryDequeue(out _));
        return new WeakReference(item);
    }

    private static int RunPairs(BoundedRingQueue<object> queue, object item, int pairs)
    {
        int failures = 0;
        for (int i = 0; i < pairs; i++)
        {
            if (!queue.TryEnqueue(item) || !queue.TryDequeue(out object? taken) || !ReferenceEquals(item, taken))
                failures++;
        }
        return failures;
    }

    /// <summary>
    /// Producers and consumers on dedicated threads. Items encode (producer, sequence); each consumer
    /// checks that one producer's items reach it in increasing order, and every item is counted so the
    /// test can check it was taken exactly once. Threads never throw: the first failure is recorded and
    /// everyone stops, and a deadline aborts the run instead of hanging the test.
    /// </summary>
    private sealed class StressRun
    {
        private const int CountSampleInterval = 16;
        private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(2);
        private readonly int _itemsPerProducer;
        private readonly int[][] _takenCount;
        private readonly List<Thread> _threads = [];
        private readonly int _totalItems;
        private int _consumed;
        private volatile bool _stop;
        private string? _failure;

        public StressRun(int producers, int totalItems, int capacity)
        {
            Queue = new BoundedRingQueue<long>(capacity);
            _itemsPerProducer = totalItems / producers;
            _totalItems = _itemsPerProducer * producers;
            _takenCount = new int[producers][];
            for (int p = 0; p < producers; p++)
                _takenCount[p] = new int[_itemsPerProducer];
        }

        public BoundedRingQueue<long> Queue { get; }

        public string? Failure => Volatile.Read(ref _failure);

        public void Start(Action body)
        {
            var thread = new Thread(() => RecordingFailures(body)) { IsBackground = true };
            _threads.Add(thread);
            thread.Start();
        }

        /// <summary>
        /// False when the threads did not finish in time. They are then told to stop, but a thread
        /// stuck inside the queue cannot hear that: it is left behind (a background thread).
        /// </summary>
        public bool JoinAll(TimeSpan timeout)
        {
            bool finished = JoinAllBefore(DateTime.UtcNow + timeout);
            if (!finished)
            {
                _stop = true;
                JoinAllBefore(DateTime.UtcNow + StopGrace);
            }
            return finished;
        }

        public void Produce(int producer)
        {
            var spinner = new SpinWait();
            for (int sequence = 0; sequence < _itemsPerProducer && !_stop; sequence++)
            {
                long item = ((long)producer << 32) | (uint)sequence;
                while (!Queue.TryEnqueue(item) && !_stop)
                    spinner.SpinOnce(sleep1Threshold: -1);
                spinner.Reset();
                if (sequence % CountSampleInterval == 0)
                    CheckCount();
            }
        }

        public void Consume()
        {
            long[] lastSequence = new long[_takenCount.Length];
            Array.Fill(lastSequence, -1L);
            var spinner = new SpinWait();
            while (!_stop && Volatile.Read(ref _consumed) < _totalItems)
            {
                if (!Queue.TryDequeue(out long item))
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                    continue;
                }
                spinner.Reset();
                int producer = (int)(item >> 32);
                int sequence = (int)item;
                if (sequence <= lastSequence[producer])
                    Fail($"producer {producer}: item {sequence} dequeued after item {lastSequence[producer]}");
                lastSequence[producer] = sequence;
                Interlocked.Increment(ref _takenCount[producer][sequence]);
                if (Interlocked.Increment(ref _consumed) % CountSampleInterval == 0)
                    CheckCount();
            }
        }

        public void AssertEveryItemTakenExactlyOnce()
        {
            for (int p = 0; p < _takenCount.Length; p++)
            {
                int wrong = Array.FindIndex(_takenCount[p], count => count != 1);
                Assert.True(wrong < 0, $"producer {p}: item {wrong} taken {(wrong < 0 ? 1 : _takenCount[p][wrong])} times");
            }
        }

        private void CheckCount()
        {
            int count = Queue.Count;
            if (count < 0 || count > Queue.Capacity)
                Fail($"Count {count} outside [0, {Queue.Capacity}]");
        }

        private void RecordingFailures(Action body)
        {
            try
            {
                body();
            }
            catch (Exception e)
            {
                Fail(e.ToString());
            }
        }

        private void Fail(string message)
        {
            Interlocked.CompareExchange(ref _failure, message, null);
            _stop = true;
        }

        private bool JoinAllBefore(DateTime deadline) =>
            _threads.All(t => t.Join(Max(deadline - DateTime.UtcNow, TimeSpan.Zero)));

        private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
    }
}
