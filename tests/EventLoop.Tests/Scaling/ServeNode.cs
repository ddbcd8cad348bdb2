using System.Collections.Concurrent;
using System.Diagnostics;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Scaling;

/// <summary>
/// An <c>eventloop serve</c> node in a child process that keeps its loopback port across a kill and a restart, so a
/// balancer's <c>server</c> line for it stays valid (<see cref="CliServer"/> always asks for a new port).
/// </summary>
internal sealed class ServeNode : IDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);
    private readonly ConcurrentQueue<string> _log;
    private Process _process;

    private ServeNode(Process process, int port, ConcurrentQueue<string> log)
    {
        _process = process;
        Port = port;
        _log = log;
    }

    public int Port { get; }

    /// <summary>What the node wrote to standard error, over all its lives.</summary>
    public string Log => string.Join(" | ", _log);

    /// <summary>Starts a node on a free port and waits for its banner.</summary>
    public static async Task<ServeNode> StartAsync()
    {
        var log = new ConcurrentQueue<string>();
        (Process process, int port) = await LaunchAsync(0, log);
        return new ServeNode(process, port, log);
    }

    /// <summary>SIGKILL: the kernel closes the node's sockets, nothing else happens.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
            _process.Kill();
        _process.WaitForExit(10_000);
    }

    /// <summary>SIGSTOP: the node hangs with its sockets open, as a node stuck in a stall or cut off by the network does.</summary>
    public void Pause() => Signal("-STOP");

    /// <summary>SIGCONT: the paused node goes on.</summary>
    public void Resume() => Signal("-CONT");

    private void Signal(string signal)
    {
        using Process kill = Process.Start("kill", [signal, _process.Id.ToString()])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Starts the node again on its port (after <see cref="Kill"/>).</summary>
    public async Task RestartAsync()
    {
        Kill();
        _process.Dispose();
        (_process, _) = await LaunchAsync(Port, _log);
    }

    private static Task<(Process Process, int Port)> LaunchAsync(int port, ConcurrentQueue<string> log) =>
        CliServer.LaunchAsync(new ProcessStartInfo(ExternalProcess.EventLoopProgram(), ["serve", "--port", port.ToString()]), log, StartTimeout);

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
