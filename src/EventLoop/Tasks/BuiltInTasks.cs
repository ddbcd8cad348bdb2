using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;

namespace EventLoop.Tasks;

/// <summary>The tasks every server offers for testing and load: echo, sleep, sha256, spin, fail.</summary>
public static class BuiltInTasks
{
    /// <summary>Registers the built-in tasks into <paramref name="registry"/>.</summary>
    public static TaskRegistry AddBuiltInTasks(this TaskRegistry registry) => registry
        .Register("echo", Echo, "echo <data>: returns data")
        .Register("sleep", SleepAsync, "sleep <ms>: waits without holding a worker, returns OK")
        .Register("sha256", Sha256, "sha256 <data>: hex SHA-256 digest of data")
        .Register("spin", Spin, "spin <us>: keeps a worker busy for the given microseconds, returns OK")
        .Register("fail", Fail, "fail <message>: throws, so the reply is an error");

    private static void Echo(TaskArguments args, IBufferWriter<byte> result)
    {
        args.RequireCount(1);
        result.Write(args[0]);
    }

    private static async ValueTask SleepAsync(TaskArguments args, IBufferWriter<byte> result, CancellationToken cancellationToken)
    {
        args.RequireCount(1);
        long milliseconds = args.GetInt64(0);
        if (milliseconds < 0 || milliseconds > int.MaxValue)
            throw new ArgumentException("milliseconds must be between 0 and 2147483647");
        await Task.Delay((int)milliseconds, cancellationToken).ConfigureAwait(false);
        result.Write("OK"u8);
    }

    private static void Sha256(TaskArguments args, IBufferWriter<byte> result)
    {
        args.RequireCount(1);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(args[0], digest);
        Span<byte> hex = result.GetSpan(digest.Length * 2);
        for (int i = 0; i < digest.Length; i++)
        {
            hex[2 * i] = (byte)"0123456789abcdef"[digest[i] >> 4];
            hex[2 * i + 1] = (byte)"0123456789abcdef"[digest[i] & 0xF];
        }
        result.Advance(digest.Length * 2);
    }

    private static void Spin(TaskArguments args, IBufferWriter<byte> result)
    {
        args.RequireCount(1);
        long microseconds = args.GetInt64(0);
        if (microseconds < 0 || microseconds > 60_000_000)
            throw new ArgumentException("microseconds must be between 0 and 60000000");
        long until = Stopwatch.GetTimestamp() + microseconds * Stopwatch.Frequency / 1_000_000;
        while (Stopwatch.GetTimestamp() < until)
            Thread.SpinWait(20);
        result.Write("OK"u8);
    }

    private static void Fail(TaskArguments args, IBufferWriter<byte> result) =>
        throw new InvalidOperationException(args.Count > 0 ? args.GetString(0) : "failed on request");
}
