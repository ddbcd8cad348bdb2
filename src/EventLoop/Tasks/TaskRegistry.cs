using System.Text;

namespace EventLoop.Tasks;

/// <summary>
/// The named tasks a server runs. Register before <see cref="EventLoopServer.Start"/>; the registry is
/// frozen then, so the reactor reads it without locks.
/// </summary>
public sealed class TaskRegistry
{
    private const int MaxNameBytes = 128;
    private readonly Dictionary<string, TaskDefinition> _tasks = new(StringComparer.OrdinalIgnoreCase);
    private Dictionary<string, TaskDefinition>.AlternateLookup<ReadOnlySpan<char>> _byChars;
    private bool _frozen;

    /// <summary>Creates an empty registry.</summary>
    public TaskRegistry() => _byChars = _tasks.GetAlternateLookup<ReadOnlySpan<char>>();

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
        if (name.Length > MaxNameBytes)
            return false;
        Span<char> chars = stackalloc char[MaxNameBytes];
        int length = Encoding.Latin1.GetChars(name, chars);
        return _byChars.TryGetValue(chars[..length], out task);
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
