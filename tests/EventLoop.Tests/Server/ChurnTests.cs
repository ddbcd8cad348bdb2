using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>
/// Connection churn: thousands of connections opened, pinged and closed, cycle after cycle, against the CLI
/// server in a child process, so that its descriptor table (/proc/PID/fd) is its own to count. Every socket it
/// accepted must be closed again. The long version is benchmarks/churn.sh.
/// </summary>
public sealed class ChurnTests
{
    private const int Cycles = 3;
    private const int ConnectionsPerCycle = 2_000;

    [Fact]
    public async Task After_cycles_of_thousands_of_connections_the_server_holds_no_descriptor_or_client_more()
    {
        using CliServer server = await CliServer.StartAsync();
        IReadOnlyList<string> baseline = server.Baseline;

        for (int cycle = 1; cycle <= Cycles; cycle++)
        {
            OpenPingAndClose(server.Port, ConnectionsPerCycle);
            int count = await WaitForDescriptorsAsync(server, baseline.Count);
            Assert.True(count == baseline.Count,
                $"cycle {cycle}: the server holds {count} descriptors, {baseline.Count} before the churn; new: {server.DescriptorsNotIn(baseline)}");
        }

        using RawConnection observer = RawConnection.Open(server.Port);
        string info = observer.Call("INFO");
        Assert.Contains("connected_clients:1\r\n", info); // the observer itself: no churned client left behind
        Assert.Contains($"total_connections_received:{Cycles * ConnectionsPerCycle + 1}\r\n", info);
    }

    /// <summary>Opens every connection first, so that they are all open at once, then pings each and closes them all.</summary>
    private static void OpenPingAndClose(int port, int count)
    {
        var clients = new List<RawConnection>(count);
        try
        {
            for (int i = 0; i < count; i++)
                clients.Add(RawConnection.Open(port));
            foreach (RawConnection client in clients)
                client.SendCommand("PING");
            foreach (RawConnection client in clients)
                Assert.Equal("+PONG\r\n", client.ReadReply());
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    /// <summary>Polls the server's descriptor count until it is <paramref name="target"/> or 10 s passed; returns the last count.</summary>
    private static async Task<int> WaitForDescriptorsAsync(CliServer server, int target)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        int count;
        while ((count = server.Descriptors().Count) != target && DateTime.UtcNow < deadline)
            await Task.Delay(50);
        return count;
    }

    /// <summary>
    /// <c>eventloop serve --port 0</c> in a child process, its port read from its banner, its log kept for
    /// failure messages. Owned by the test; only the log is written from elsewhere (the process's reader thread).
    /// </summary>
    private sealed class CliServer : IDisposable
    {
        private readonly Process _process;
        private readonly ConcurrentQueue<string> _log = new();

        private CliServer(Process process)
        {
            _process = process;
            _process.ErrorDataReceived += (_, line) => { if (line.Data is not null) _log.Enqueue(line.Data); };
            _process.BeginErrorReadLine();
        }

        public int Port { get; private set; }

        /// <summary>The descriptors right after start, before any client connected.</summary>
        public IReadOnlyList<string> Baseline { get; private set; } = [];

        public static async Task<CliServer> StartAsync()
        {
            var start = new ProcessStartInfo(ExternalProcess.EventLoopProgram(), ["serve", "--port", "0"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var server = new CliServer(Process.Start(start)!);
            try
            {
                string? banner = await server._process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                server.Port = int.Parse(Regex.Match(banner ?? "", @":(\d+) ").Groups[1].Value);
                _ = server._process.StandardOutput.ReadToEndAsync(); // keep the pipe drained
                server.Baseline = server.Descriptors();
                return server;
            }
            catch
            {
                server.Dispose();
                throw;
            }
        }

        /// <summary>
        /// What the server's descriptors point at (socket:[inode], pipe:[inode], anon_inode:[eventpoll]…), less
        /// the runtime's assembly files: it opens each on first use, some only on rare paths, and keeps it for good.
        /// </summary>
        public List<string> Descriptors()
        {
            var targets = new List<string>();
            foreach (FileSystemInfo entry in new DirectoryInfo($"/proc/{_process.Id}/fd").EnumerateFileSystemInfos())
            {
                string? target = ReadLink(entry);
                if (target is not null && !target.EndsWith(".dll", StringComparison.Ordinal))
                    targets.Add(target);
            }
            return targets;
        }

        /// <summary>The kinds of the descriptors open now that were not open in <paramref name="before"/>, with counts.</summary>
        public string DescriptorsNotIn(IReadOnlyList<string> before)
        {
            List<string> extra = Descriptors();
            foreach (string target in before)
                extra.Remove(target);
            var kinds = extra.GroupBy(t => Regex.Replace(t, @"\[\d+\]", "[]")).Select(g => $"{g.Count()} × {g.Key}");
            string log = _log.IsEmpty ? "" : $"; server log: {string.Join(" | ", _log.TakeLast(5))}";
            return string.Join(", ", kinds) + log;
        }

        /// <summary>The link target, or null when the descriptor closed while the table was read.</summary>
        private static string? ReadLink(FileSystemInfo entry)
        {
            try
            {
                return entry.LinkTarget;
            }
            catch (IOException)
            {
                return null;
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit(10_000);
            _process.Dispose();
        }
    }
}
