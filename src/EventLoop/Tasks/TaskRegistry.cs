using System.Text;

namespace EventLoop.Tasks;

/// <summary>
/// The named tasks a server runs. Register before <see cref="EventLoopServer.Start"/>; the registry is
/// frozen then, so the reactor reads it without locks.
/// </summary>
public sealed class TaskRegistry
{
    private const int MaxNameBytes = 128;
    private readonly Dictionary<string, TaskDefinition> _tasks = new(AsciiNameComparer.Instance);
    private readonly Dictionary<string, TaskDefinition>.AlternateLookup<ReadOnlySpan<byte>> _byBytes;
    private bool _frozen;

    /// <summary>Creates an empty registry.</summary>
    public TaskRegistry() => _byBytes = _tasks.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <summary>Every registered task, in name order.</summary>
    public IReadOnlyList<TaskDefinition> All => [.. _tasks.Values.OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>Registers a synchronous task.</summary>
    public TaskRegistry Register(string name, TaskHandler handler, string description = "")
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(new TaskDefinition(name, description, handler, null));
    }

    /// <summary>Registers an asynchronous task (it does not hold a worker while it awaits).</summary>
    public TaskRegistry Register(string name, AsyncTaskHandler handler, string description = "")
    {
        ArgumentNullException.ThrowIfNull(handler);
        return Add(new TaskDefinition(name, description, null, handler));
    }

    /// <summary>Finds a task by its name as it came off the wire (ASCII, case-insensitive), without allocating.</summary>
    internal bool TryGet(ReadOnlySpan<byte> name, out TaskDefinition? task)
    {
        task = null;
        return name.Length <= MaxNameBytes && _byBytes.TryGetValue(name, out task);
    }

    internal void Freeze() => _frozen = true;

    private TaskRegistry Add(TaskDefinition task)
    {
        if (_frozen)
            throw new InvalidOperationException("tasks must be registered before the server starts");
        if (string.IsNullOrWhiteSpace(task.Name) || task.Name.Length > MaxNameBytes || !task.Name.All(c => c > ' ' && c < 127))
            throw new ArgumentException($"task names are 1..{MaxNameBytes} printable ASCII characters without spaces: '{task.Name}'");
        if (!_tasks.TryAdd(task.Name, task))
            throw new ArgumentException($"a task named '{task.Name}' is already registered");
        return this;
    }
}

/// <summary>
/// Task names compared as ASCII, ignoring case, between strings and the raw bytes of a request: <c>RUN</c>
/// finds its task without decoding the name.
/// </summary>
internal sealed class AsciiNameComparer : IEqualityComparer<string>, IAlternateEqualityComparer<ReadOnlySpan<byte>, string>
{
    public static readonly AsciiNameComparer Instance = new();

    public bool Equals(string? x, string? y) => string.Equals(x, y, StringComparison.OrdinalIgnoreCase);

    public int GetHashCode(string name)
    {
        var hash = new HashCode();
        foreach (char c in name)
            hash.Add(char.ToLowerInvariant(c));
        return hash.ToHashCode();
    }

    public bool Equals(ReadOnlySpan<byte> alternate, string other) => System.Text.Ascii.EqualsIgnoreCase(alternate, other);

    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var hash = new HashCode();
        foreach (byte b in alternate)
            hash.Add(b is >= (byte)'A' and <= (byte)'Z' ? (char)(b + 32) : (char)b);
        return hash.ToHashCode();
    }

    public string Create(ReadOnlySpan<byte> alternate) => Encoding.ASCII.GetString(alternate);
}
