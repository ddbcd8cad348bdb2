using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace EventLoop.Queues;

/// <summary>
/// Bounded lock-free multi-producer multi-consumer ring (per-slot sequence numbers, as in Vyukov's
/// bounded MPMC queue): power-of-two capacity, enqueue and dequeue positions on separate cache lines
/// (padded to 128 bytes to also defeat adjacent-line prefetch). Thread-safe for any number of
/// producers and consumers; allocation-free after construction.
/// </summary>
/// <typeparam name="T">The item type.</typeparam>
/// <remarks>
/// <para>Shared by every thread that enqueues or dequeues: it is one of the two places where state
/// crosses threads (the reactor hands task requests to the workers through it).</para>
/// <para><b>Positions.</b> Enqueue and dequeue positions are 64-bit counters that only grow (they never
/// wrap in practice). Position <c>p</c> lives in slot <c>p &amp; mask</c>, on lap <c>p / Capacity</c>.</para>
/// <para><b>Sequence protocol.</b> Each slot carries a sequence number that says which position it is
/// ready for, so a single read tells a thread whether the slot is its to take:</para>
/// <list type="bullet">
/// <item><c>sequence == p</c>: the slot is <i>free for position p</i>; the producer that claims
/// <c>p</c> may write it. Initially slot <c>i</c> holds <c>i</c> (free for lap 0).</item>
/// <item><c>sequence == p + 1</c>: the slot is <i>full with the item of position p</i>; the consumer
/// that claims <c>p</c> may read it. "+1" makes full-for-lap-k differ from free-for-lap-k.</item>
/// <item>After consuming <c>p</c> the consumer stores <c>p + Capacity</c>: free for the same slot's
/// position on the next lap.</item>
/// </list>
/// <para>A producer at position <c>p</c> that sees a sequence below <c>p</c> finds last lap's item still
/// there: the ring is full. A consumer at <c>p</c> that sees a sequence below <c>p + 1</c> finds the
/// slot not yet written: the ring is empty. A sequence above what the thread expects means another
/// thread already took <c>p</c> and moved on; the thread reloads the position and retries.</para>
/// <para><b>Memory ordering.</b> Positions are claimed with <see cref="Interlocked.CompareExchange(ref long, long, long)"/>,
/// so exactly one thread owns each position; a position carries no data, only ownership. Data is
/// published through the slot's sequence: the owner writes (or reads and clears) the item, then
/// stores the new sequence with <see cref="Volatile.Write(ref long, long)"/> (release), and the next
/// owner reads the sequence with <see cref="Volatile.Read(ref readonly long)"/> (acquire) before touching the
/// item. Release/acquire thus orders a producer's item write before the consumer's read, and a
/// consumer's read and clear before the next lap's producer overwrites the slot.</para>
/// <para><b>Progress.</b> Compare-and-swap claims a position only after the slot was seen ready, so a
/// full or empty ring fails at once instead of waiting. A thread preempted between claiming a
/// position and publishing its slot delays only that position: <see cref="TryDequeue"/> reports empty
/// until that item is published, even if later items are already written; FIFO order is kept.
/// Likewise <see cref="TryEnqueue"/> reports full while the consumer of last lap's item in that slot
/// is between its claim and its release, although <see cref="Count"/> may already be below
/// <see cref="Capacity"/>.</para>
/// </remarks>
public sealed class BoundedRingQueue<T>
{
    private readonly Slot[] _slots;
    private readonly int _mask;
    private RingPositions _positions;

    /// <summary>Creates an empty ring.</summary>
    /// <param name="capacity">Number of slots: a power of two, at least 2.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not valid
    /// (see <see cref="IsValidCapacity"/>).</exception>
    public BoundedRingQueue(int capacity)
    {
        if (!IsValidCapacity(capacity))
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Capacity must be a power of two, at least 2.");
        _slots = new Slot[capacity];
        for (int i = 0; i < capacity; i++)
            _slots[i].Sequence = i; // free for position i (lap 0)
        _mask = capacity - 1;
    }

    /// <summary>True when <paramref name="capacity"/> is a power of two, at least 2.</summary>
    /// <remarks>A power of two turns "position modulo capacity" into a mask.</remarks>
    public static bool IsValidCapacity(int capacity) => capacity >= 2 && BitOperations.IsPow2(capacity);

    /// <summary>Number of slots.</summary>
    public int Capacity => _slots.Length;

    /// <summary>
    /// Approximate number of items (exact when no operation is in progress); never negative,
    /// never greater than <see cref="Capacity"/>.
    /// </summary>
    public int Count
    {
        get
        {
            // Enqueue position first: a producer claims p only once position p - Capacity has been
            // consumed, so enqueue <= dequeue + Capacity at that instant, and the dequeue position
            // read afterwards is no smaller. The difference is thus never above Capacity, but may
            // be negative when consumers ran ahead between the two reads.
            long enqueue = Volatile.Read(ref _positions.Enqueue);
            long dequeue = Volatile.Read(ref _positions.Dequeue);
            return (int)Math.Max(0, enqueue - dequeue);
        }
    }

    /// <summary>Adds <paramref name="item"/> at the tail; never blocks.</summary>
    /// <returns>False when the ring is full.</returns>
    public bool TryEnqueue(T item)
    {
        Slot[] slots = _slots;
        long position = Volatile.Read(ref _positions.Enqueue);
        while (true)
        {
            ref Slot slot = ref slots[(int)position & _mask];
            // How far the slot's sequence is ahead of "free for this position" (see remarks).
            long lead = Volatile.Read(ref slot.Sequence) - position;
            if (lead == 0)
            {
                long seen = Interlocked.CompareExchange(ref _positions.Enqueue, position + 1, position);
                if (seen == position)
                {
                    slot.Item = item;
                    Volatile.Write(ref slot.Sequence, position + 1); // full for this position
                    return true;
                }
                position = seen; // another producer took it
            }
            else if (lead < 0)
            {
                return false; // last lap's item not consumed yet
            }
            else
            {
                position = Volatile.Read(ref _positions.Enqueue); // our view of the position was stale
            }
        }
    }

    /// <summary>Removes the item at the head; never blocks. Clears the slot so the GC can collect it.</summary>
    /// <param name="item">The removed item, or default when the ring is empty.</param>
    /// <returns>False when the ring is empty.</returns>
    public bool TryDequeue([MaybeNullWhen(false)] out T item)
    {
        Slot[] slots = _slots;
        long position = Volatile.Read(ref _positions.Dequeue);
        while (true)
        {
            ref Slot slot = ref slots[(int)position & _mask];
            // How far the slot's sequence is ahead of "full for this position" (see remarks).
            long lead = Volatile.Read(ref slot.Sequence) - (position + 1);
            if (lead == 0)
            {
                long seen = Interlocked.CompareExchange(ref _positions.Dequeue, position + 1, position);
                if (seen == position)
                {
                    item = slot.Item;
                    if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
                        slot.Item = default!;
                    Volatile.Write(ref slot.Sequence, position + slots.Length); // free for the next lap
                    return true;
                }
                position = seen; // another consumer took it
            }
            else if (lead < 0)
            {
                item = default;
                return false; // not written yet
            }
            else
            {
                position = Volatile.Read(ref _positions.Dequeue); // our view of the position was stale
            }
        }
    }

    private struct Slot
    {
        public T Item;
        public long Sequence;
    }
}

/// <summary>
/// The enqueue and dequeue positions of a <see cref="BoundedRingQueue{T}"/>, each alone on its own
/// 128-byte block, away from the ring's read-only fields and object header, so producers and consumers
/// do not invalidate each other's cache lines (false sharing). Outside the generic class because
/// generic types cannot have explicit layout.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 3 * CacheBlock)]
internal struct RingPositions
{
    private const int CacheBlock = 128;

    /// <summary>Next position a producer will claim.</summary>
    [FieldOffset(CacheBlock)] public long Enqueue;

    /// <summary>Next position a consumer will claim.</summary>
    [FieldOffset(2 * CacheBlock)] public long Dequeue;
}
