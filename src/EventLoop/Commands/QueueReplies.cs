using System.Buffers;
using System.Buffers.Text;
using System.Text;
using EventLoop.Protocol;
using EventLoop.Queueing;

namespace EventLoop.Commands;

/// <summary>The task queue's reply shapes, shared by commands answered at once and by parked requests answered later.</summary>
internal static class QueueReplies
{
    /// <summary>RESULT: the result once succeeded, <c>-FAILED error</c>, <c>-CANCELLED</c>, or <c>-PENDING state</c>.</summary>
    public static void WriteResult(IBufferWriter<byte> reply, TaskRecord task)
    {
        switch (task.State)
        {
            case TaskState.Succeeded:
                reply.Write(task.Result);
                break;
            case TaskState.Failed:
                RespWriter.WriteError(reply, "FAILED " + task.Error);
                break;
            case TaskState.Cancelled:
                reply.Write("-CANCELLED\r\n"u8);
                break;
            default:
                reply.Write("-PENDING "u8);
                reply.Write(task.State.Word());
                reply.Write("\r\n"u8);
                break;
        }
    }

    /// <summary>STATUS: field/value pairs; numbers as integers, times in Unix ms (0 where not yet).</summary>
    public static void WriteStatus(IBufferWriter<byte> reply, TaskRecord task)
    {
        RespWriter.WriteArrayHeader(reply, 22);
        RespWriter.WriteBulkString(reply, "id"u8);
        task.WriteId(reply);
        RespWriter.WriteBulkString(reply, "task"u8);
        RespWriter.WriteBulkString(reply, task.Name);
        RespWriter.WriteBulkString(reply, "queue"u8);
        RespWriter.WriteBulkString(reply, task.Queue.Name);
        RespWriter.WriteBulkString(reply, "state"u8);
        RespWriter.WriteBulkString(reply, task.State.Word());
        Field(reply, "attempt"u8, task.Attempt);
        Field(reply, "priority"u8, task.Priority);
        Field(reply, "created_ms"u8, task.CreatedMs);
        Field(reply, "run_at_ms"u8, task.RunAtMs);
        Field(reply, "started_ms"u8, task.StartedMs);
        Field(reply, "finished_ms"u8, task.FinishedMs);
        RespWriter.WriteBulkString(reply, "error"u8);
        RespWriter.WriteBulkString(reply, task.Error ?? "");
    }

    /// <summary>FETCH: <c>[id, attempt, task, [arg…]]</c> per leased task, each framed in one reservation of the reply.</summary>
    public static void WriteFetched(IBufferWriter<byte> reply, ReadOnlySpan<Lease> leases)
    {
        RespWriter.WriteArrayHeader(reply, leases.Length);
        foreach (Lease lease in leases)
        {
            TaskRecord task = lease.Task;
            byte[] name = task.Definition.NameUtf8;
            ReadOnlySpan<byte> arguments = task.Arguments;
            int count = PackedArguments.Count(arguments);
            string? namedId = task.NamedId;
            int idBytes = namedId is null ? Frame.MaxNumberBytes : Encoding.UTF8.GetMaxByteCount(namedId.Length);
            int headers = 5 + count, bulks = 2 + count;
            int bound = headers * Frame.MaxHeaderBytes + bulks * 2 + idBytes + name.Length + PackedArguments.Data(arguments).Length;
            var frame = new Frame(reply.GetSpan(bound));
            frame.Header((byte)'*', 4);
            if (namedId is null)
                frame.NumberBulk(task.Number);
            else
                frame.Bulk(namedId);
            frame.Header((byte)':', lease.Attempt);
            frame.Bulk(name);
            frame.Header((byte)'*', count);
            for (int i = 0; i < count; i++)
                frame.Bulk(PackedArguments.Get(arguments, i));
            reply.Advance(frame.Written);
        }
    }

    /// <summary>RESP written into a span reserved for it whole: no writer call per element.</summary>
    private ref struct Frame(Span<byte> span)
    {
        public const int MaxNumberBytes = 20;
        /// <summary>A type byte, a 64-bit number with its sign, CRLF.</summary>
        public const int MaxHeaderBytes = 1 + MaxNumberBytes + 2;

        private readonly Span<byte> _span = span;

        public int Written { get; private set; }

        public void Header(byte type, long value)
        {
            _span[Written] = type;
            Utf8Formatter.TryFormat(value, _span[(Written + 1)..], out int digits);
            Written += 1 + digits;
            EndLine();
        }

        public void Bulk(scoped ReadOnlySpan<byte> value)
        {
            Header((byte)'$', value.Length);
            value.CopyTo(_span[Written..]);
            Written += value.Length;
            EndLine();
        }

        public void Bulk(string value)
        {
            Header((byte)'$', Encoding.UTF8.GetByteCount(value));
            Written += Encoding.UTF8.GetBytes(value, _span[Written..]);
            EndLine();
        }

        public void NumberBulk(long value)
        {
            Span<byte> digits = stackalloc byte[MaxNumberBytes];
            Utf8Formatter.TryFormat(value, digits, out int length);
            Bulk(digits[..length]);
        }

        private void EndLine()
        {
            "\r\n"u8.CopyTo(_span[Written..]);
            Written += 2;
        }
    }

    private static void Field(IBufferWriter<byte> reply, ReadOnlySpan<byte> name, long value)
    {
        RespWriter.WriteBulkString(reply, name);
        RespWriter.WriteInteger(reply, value);
    }
}
