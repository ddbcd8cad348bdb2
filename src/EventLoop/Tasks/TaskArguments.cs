using System.Buffers.Text;
using System.Text;
using EventLoop.Workers;

namespace EventLoop.Tasks;

/// <summary>
/// The arguments of one task request (those after <c>RUN name</c>). A view over the request's own
/// buffer: valid until the task completes; copy what must outlive it.
/// </summary>
public readonly struct TaskArguments
{
    private readonly WorkItem _item;

    internal TaskArguments(WorkItem item) => _item = item;

    /// <summary>The task's registered name.</summary>
    public string TaskName => _item.Task!.Name;

    /// <summary>
    /// The delivery number of a queued task's run: 1 the first time, +1 each time it is handed out again
    /// (retry, lost lease). 0 for <c>RUN</c>, which is never retried.
    /// </summary>
    public int Attempt => _item.Attempt;

    /// <summary>
    /// Cancelled when this run must stop: the task was cancelled (CANCEL) or timed out (TIMEOUT), or the
    /// server stops without waiting any longer. Synchronous handlers poll it; asynchronous ones also get it
    /// as their parameter.
    /// </summary>
    public CancellationToken CancellationToken => _item.RunToken;

    /// <summary>How many arguments were given.</summary>
    public int Count => _item.ArgumentCount;

    /// <summary>Argument <paramref name="index"/> as raw bytes.</summary>
    public ReadOnlySpan<byte> this[int index] => _item.Argument(index).Span;

    /// <summary>Argument <paramref name="index"/> as memory, for use across awaits.</summary>
    public ReadOnlyMemory<byte> GetMemory(int index) => _item.Argument(index);

    /// <summary>Argument <paramref name="index"/> decoded as UTF-8 (allocates a string).</summary>
    public string GetString(int index) => Encoding.UTF8.GetString(this[index]);

    /// <summary>Argument <paramref name="index"/> as a decimal integer; a clear <see cref="FormatException"/> otherwise.</summary>
    public long GetInt64(int index)
    {
        ReadOnlySpan<byte> raw = this[index];
        if (Utf8Parser.TryParse(raw, out long value, out int consumed) && consumed == raw.Length)
            return value;
        throw new FormatException($"argument {index + 1} is not an integer");
    }

    /// <summary>Throws a <see cref="ArgumentException"/> with a client-readable message unless exactly <paramref name="expected"/> arguments were given.</summary>
    public void RequireCount(int expected)
    {
        if (Count != expected)
            throw new ArgumentException($"expects {expected} argument{(expected == 1 ? "" : "s")}, got {Count}");
    }
}
