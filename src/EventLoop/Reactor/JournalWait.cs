using System.Diagnostics;
using EventLoop.Journal;

namespace EventLoop.Reactor;

/// <summary>What an idle reactor does while replies wait for the journal (<c>--journal-wait</c>).</summary>
public enum JournalWaitMode
{
    /// <summary><see cref="Poll"/> when the process may use only one CPU, where the journal thread shares the reactor's; <see cref="Sleep"/> otherwise.</summary>
    Auto,
    /// <summary>Poll the multiplexer without blocking, yielding the CPU between polls, for up to <see cref="JournalWait.PollLimitTicks"/> of idleness.</summary>
    Poll,
    /// <summary>Block in the multiplexer until the journal thread's notice wakes it.</summary>
    Sleep,
}

/// <summary>
/// Keeps the reactor's CPU awake while replies are held for the journal (under <c>always</c>, for its
/// fdatasync): an idle reactor polls with a zero timeout and yields between polls instead of blocking,
/// for at most <see cref="PollLimitTicks"/> since it last had work. Reactor-owned.
/// </summary>
/// <remarks>
/// Why: an idle vCPU here halts without polling, and the disk's completion interrupt arrives on the other
/// CPU, so the journal thread, blocked in fdatasync on the reactor's CPU, is woken by an IPI to a halted
/// vCPU: 112–124 µs an fdatasync on that CPU, 73–81 µs with a thread yielding in a loop beside it
/// (docs/journal.md). The yield gives the CPU to the journal thread and the workers whenever they can run.
/// On more CPUs the journal thread may run on another one, and a polling reactor only takes CPU from the
/// client sharing its own, so <see cref="JournalWaitMode.Auto"/> polls on one CPU only.
/// </remarks>
internal sealed class JournalWait(JournalWaitMode mode, int processors)
{
    /// <summary>How long an idle reactor polls before it blocks: longer than this disk's slowest usual fdatasync (p99 ~0.2 ms).</summary>
    public static readonly long PollLimitTicks = Stopwatch.Frequency / 1000;

    private long _lastActive;

    /// <summary>Whether the reactor polls while replies wait (the mode <c>auto</c> chose).</summary>
    public bool Polls { get; } = mode == JournalWaitMode.Poll || mode == JournalWaitMode.Auto && processors == 1;

    /// <summary>Passes that found nothing and yielded the CPU.</summary>
    public long Yields { get; private set; }

    /// <summary>Before the wait: poll rather than block, as replies wait for <paramref name="journal"/> and the reactor was busy recently.</summary>
    public bool ShouldPoll(TaskJournal? journal, long now) =>
        Polls && journal is { HeldReplies: > 0 } && now - _lastActive < PollLimitTicks;

    /// <summary>After the wait: a poll that found nothing yields the CPU; anything else starts a new window.</summary>
    public void Waited(bool polledIdle, long now)
    {
        if (polledIdle)
        {
            Yields++;
            Thread.Yield();
        }
        else
        {
            _lastActive = now;
        }
    }
}
