using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace EventLoop.Tests.Scaling;

/// <summary>
/// Debian's <c>haproxy</c> running the shipped docs/haproxy.cfg in the foreground, in front of two nodes on loopback:
/// its addresses come from the environment the file reads, its runtime API is a Unix socket in a directory of the test's.
/// </summary>
internal sealed class HaproxyBalancer : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();
    private readonly string _statsSocket;

    private HaproxyBalancer(string directory, int node1Port, int node2Port)
    {
        Port = FreePort();
        _statsSocket = Path.Combine(directory, "haproxy.sock");
        var start = new ProcessStartInfo(Program(), ["-db", "-f", ConfigPath()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["EVENTLOOP_LB"] = $"127.0.0.1:{Port}",
                ["EVENTLOOP_LB_STATS"] = _statsSocket,
                ["EVENTLOOP_NODE1"] = $"127.0.0.1:{node1Port}",
                ["EVENTLOOP_NODE2"] = $"127.0.0.1:{node2Port}",
            },
        };
        _process = Process.Start(start)!;
        _process.ErrorDataReceived += (_, line) => { if (line.Data is not null) _log.Enqueue(line.Data); };
        _process.OutputDataReceived += (_, line) => { if (line.Data is not null) _log.Enqueue(line.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    /// <summary>The frontend's port: clients connect here.</summary>
    public int Port { get; }

    /// <summary>Starts HAProxy and waits until a health check of each node has passed.</summary>
    public static async Task<HaproxyBalancer> StartAsync(string directory, int node1Port, int node2Port, TimeSpan within)
    {
        var balancer = new HaproxyBalancer(directory, node1Port, node2Port);
        try
        {
            await balancer.WaitForAsync("node1", "UP", within);
            await balancer.WaitForAsync("node2", "UP", within);
            return balancer;
        }
        catch
        {
            balancer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits until <c>show stat</c> gives <paramref name="server"/> this status with a check result behind it (a
    /// server is UP before its first check has run), or fails with HAProxy's log.
    /// </summary>
    public async Task WaitForAsync(string server, string status, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"haproxy exited ({_process.ExitCode}): {string.Join(" | ", _log)}");
            if (await TryServerStatAsync(server) is { } stat && stat["status"] == status && stat["check_status"] is not ("" or "INI"))
                return;
            if (clock.Elapsed > within)
                throw new TimeoutException($"haproxy did not mark {server} {status} within {within.TotalSeconds} s: {string.Join(" | ", _log)}");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Waits until HAProxy's log has a line containing <paramref name="text"/>: its stderr arrives on a thread of its own, after the state it reports.</summary>
    public async Task WaitForLogAsync(string text, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!_log.Any(line => line.Contains(text, StringComparison.Ordinal)))
        {
            if (clock.Elapsed > within)
                throw new TimeoutException($"haproxy never logged '{text}' within {within.TotalSeconds} s: {string.Join(" | ", _log)}");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary><paramref name="server"/>'s row of <c>show stat</c> (backend <c>eventloop</c>), by column name; null if absent.</summary>
    public async Task<Dictionary<string, string>?> ServerStatAsync(string server)
    {
        string[] lines = (await AskAsync("show stat")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] columns = lines[0].TrimStart('#', ' ').Split(',');
        return lines.Skip(1).Select(line => line.Split(','))
            .Where(fields => fields.Length >= columns.Length && fields[0] == "eventloop" && fields[1] == server)
            .Select(fields => columns.Zip(fields).ToDictionary(pair => pair.First, pair => pair.Second))
            .FirstOrDefault();
    }

    /// <summary>As <see cref="ServerStatAsync"/>, or null while HAProxy is not listening on its runtime socket yet.</summary>
    private async Task<Dictionary<string, string>?> TryServerStatAsync(string server)
    {
        try
        {
            return await ServerStatAsync(server);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>Sends one command to the runtime API and returns its whole answer (HAProxy closes after it).</summary>
    public async Task<string> AskAsync(string command)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_statsSocket));
        await socket.SendAsync(Encoding.ASCII.GetBytes(command + "\n"));
        var answer = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int n;
        while ((n = await socket.ReceiveAsync(buffer)) > 0)
            answer.Write(buffer, 0, n);
        return Encoding.ASCII.GetString(answer.ToArray());
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.WaitForExit(10_000);
        _process.Dispose();
    }

    /// <summary>Debian installs haproxy in /usr/sbin, which a non-root PATH may lack.</summary>
    private static string Program() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/sbin")
            .Select(directory => Path.Combine(directory, "haproxy")).FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("'haproxy' is not installed: run ./build.sh test (it installs it) or apt-get install haproxy");

    /// <summary>The shipped example, found by walking up from the test assembly to the repository.</summary>
    private static string ConfigPath()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "docs", "haproxy.cfg");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("docs/haproxy.cfg not found above the test assembly");
    }

    /// <summary>A loopback port nobody listens on now (HAProxy binds it a moment later).</summary>
    private static int FreePort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
