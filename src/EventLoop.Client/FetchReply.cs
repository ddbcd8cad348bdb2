using System.Text;

namespace EventLoop.Client;

/// <summary>
/// Parses a FETCH reply (<c>*n</c> of <c>[id, attempt, task, [arg…]]</c>) straight into <see cref="FetchedTask"/>s,
/// with no <see cref="RespValue"/> tree in between.
/// </summary>
/// <remarks>
/// A whole reply costs one copy of its bytes, which every task's arguments are slices of (the arguments stay valid
/// as long as a task is referenced, with no pool to hand back), plus per task the record, its id's string and its
/// argument list. Task names come from <see cref="TaskNames"/>, so a worker's few names are not decoded again.
/// </remarks>
internal static class FetchReply
{
    private static readonly ReadOnlyMemory<byte>[] NoArguments = [];

    /// <exception cref="RespErrorException">The server refused the FETCH.</exception>
    /// <exception cref="FormatException">The reply is not shaped like FETCH's.</exception>
    public static IReadOnlyList<FetchedTask> Parse(ReadOnlySpan<byte> reply, TaskNames names)
    {
        var reader = new RespSpanReader(reply);
        int count = reader.ReadArrayHeader();
        if (count <= 0)
            return [];
        byte[] owned = reply.ToArray();
        var tasks = new FetchedTask[count];
        for (int i = 0; i < count; i++)
        {
            if (reader.ReadArrayHeader() != 4)
                throw new FormatException("a fetched task is not [id, attempt, task, [arg…]]");
            string id = Encoding.UTF8.GetString(reader.ReadBulkSpan());
            long attempt = reader.ReadInteger();
            string task = names.Get(reader.ReadBulkSpan());
            int argumentCount = reader.ReadArrayHeader();
            ReadOnlyMemory<byte>[] arguments = argumentCount <= 0 ? NoArguments : new ReadOnlyMemory<byte>[argumentCount];
            for (int a = 0; a < arguments.Length; a++)
            {
                (int offset, int length) = reader.ReadBulk();
                arguments[a] = length < 0 ? default : owned.AsMemory(offset, length);
            }
            tasks[i] = new FetchedTask(id, attempt, task, arguments);
        }
        return tasks;
    }
}

/// <summary>
/// Task names decoded once: a worker sees the same few names in every FETCH reply. Bounded, so a stream of distinct
/// names only costs their strings. Owned by one connection's receive loop (not thread-safe).
/// </summary>
internal sealed class TaskNames
{
    private const int MaxNames = 1024;
    private const int MaxCachedLength = 256;

    private readonly Dictionary<string, string> _names = new(StringComparer.Ordinal);

    public string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxCachedLength)
            return Encoding.UTF8.GetString(utf8);
        Span<char> chars = stackalloc char[MaxCachedLength]; // UTF-8 never decodes to more chars than bytes
        chars = chars[..Encoding.UTF8.GetChars(utf8, chars)];
        if (_names.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars, out string? name))
            return name;
        name = new string(chars);
        if (_names.Count < MaxNames)
            _names[name] = name;
        return name;
    }
}
