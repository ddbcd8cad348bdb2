using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace EventLoop.Tests.Support;

/// <summary>
/// <c>eventloop serve</c> in a child process on a free loopback port: a server with a descriptor table of
/// its own, so its descriptor numbers do not depend on what the test process holds.
/// </summary>
public sealed class CliServer : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log;

    private CliServer(Process process, ConcurrentQueue<string> log, int port)
    {
        _process = process;
        _log = log;
        Port = port;
    }

    public int Port { get; }

    public int ProcessId => _process.Id;

    /// <summary>The server's resident set size (VmRSS) now, in bytes.</summary>
    public long Rss() =>
        long.Parse(File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith("VmRSS:"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;

    /// <summary>What the server wrote to standard error, line by line.</summary>
    public IReadOnlyCollection<string> Log => _log;

    /// <summary>Starts <c>eventloop serve --port 0</c> with <paramref name="serveArguments"/> and waits for its banner.</summary>
    public static async Task<CliServer> StartAsync(params string[] serveArguments)
    {
        var start = new ProcessStartInfo(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0", .. serveArguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process = Process.Start(start)!;
        var log = new ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) log.Enqueue(line.Data); };
        process.BeginErrorReadLine();
        try
        {
            string? banner = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Match port = Regex.Match(banner ?? "", @"listening on 127\.0\.0\.1:(\d+)");
            if (!port.Success)
                throw new InvalidOperationException($"unexpected banner '{banner}'; log: {string.Join(" | ", log)}");
            return new CliServer(process, log, int.Parse(port.Groups[1].Value));
        }
        catch
        {
            Stop(process);
            throw;
        }
    }

    public void Dispose() => Stop(_process);

    private static void Stop(Process process)
    {
        if (!process.HasExited)
            process.Kill();
        process.WaitForExit(10_000);
        process.Dispose();
    }
}
