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

    /// <summary>The server's process id.</summary>
    public int Pid => _process.Id;

    /// <summary>Kills the server with SIGKILL (no chance to flush anything) and waits for it to be gone.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.WaitForExit(10_000);
    }

    /// <summary>Starts <c>eventloop serve --port 0</c> with <paramref name="serveArguments"/> and waits for its banner.</summary>
    public static Task<CliServer> StartAsync(params string[] serveArguments) =>
        StartAsync(new ProcessStartInfo(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0", .. serveArguments]));

    /// <summary>
    /// Starts the server through <c>bash -c "<paramref name="shellPrefix"/>; exec eventloop serve …"</c>, so a
    /// test can set limits (<c>ulimit -f</c>) or signal dispositions the server then inherits.
    /// </summary>
    public static Task<CliServer> StartInShellAsync(string shellPrefix, params string[] serveArguments)
    {
        string command = $"{shellPrefix}; exec \"$0\" serve --port 0 \"$@\"";
        return StartAsync(new ProcessStartInfo("bash", ["-c", command, ExternalProcess.EventLoopProgram(), .. serveArguments]));
    }

    private static async Task<CliServer> StartAsync(ProcessStartInfo start)
    {
        var log = new ConcurrentQueue<string>();
        (Process process, int port) = await LaunchAsync(start, log, TimeSpan.FromSeconds(30));
        return new CliServer(process, log, port);
    }

    /// <summary>
    /// Starts <paramref name="start"/> (an <c>eventloop serve</c>), collects its standard error into <paramref name="log"/>
    /// and waits for its banner: the process and the port it listens on. A process that gives no banner is stopped.
    /// </summary>
    internal static async Task<(Process Process, int Port)> LaunchAsync(ProcessStartInfo start, ConcurrentQueue<string> log, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        Process process = Process.Start(start)!;
        process.ErrorDataReceived += (_, line) => { if (line.Data is not null) log.Enqueue(line.Data); };
        process.BeginErrorReadLine();
        try
        {
            string? banner = await process.StandardOutput.ReadLineAsync().WaitAsync(timeout);
            Match port = Regex.Match(banner ?? "", @"listening on 127\.0\.0\.1:(\d+)");
            if (!port.Success)
                throw new InvalidOperationException($"unexpected banner '{banner}'; log: {string.Join(" | ", log)}");
            return (process, int.Parse(port.Groups[1].Value));
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
