using System.Buffers;
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

    /// <summary>FETCH: <c>[id, attempt, task, [arg…]]</c> per leased task.</summary>
    public static void WriteFetched(IBufferWriter<byte> reply, ReadOnlySpan<Lease> leases)
    {
        RespWriter.WriteArrayHeader(reply, leases.Length);
        foreach (Lease lease in leases)
        {
            TaskRecord task = lease.Task;
            RespWriter.WriteArrayHeader(reply, 4);
            task.WriteId(reply);
            RespWriter.WriteInteger(reply, lease.Attempt);
            RespWriter.WriteBulkString(reply, task.Name);
            int count = PackedArguments.Count(task.Arguments);
            RespWriter.WriteArrayHeader(reply, count);
            for (int i = 0; i < count; i++)
                RespWriter.WriteBulkString(reply, PackedArguments.Get(task.Arguments, i));
        }
    }

    private static void Field(IBufferWriter<byte> reply, ReadOnlySpan<byte> name, long value)
    {
        RespWriter.WriteBulkString(reply, name);
        RespWriter.WriteInteger(reply, value);
    }
}
