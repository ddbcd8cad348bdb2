using System.Diagnostics;
using System.Text.RegularExpressions;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>
/// Out of file descriptors: the server runs in a child process with a small RLIMIT_NOFILE, so accept
/// fails with EMFILE for real. It must refuse the excess clemently, stay near idle, and recover.
/// </summary>
public sealed class DescriptorExhaustionTests
{
    [Fact]
    public async Task At_the_descriptor_limit_the_server_refuses_without_spinning_and_recovers()
    {
        string program = ExternalProcess.EventLoopProgram();
        var start = new ProcessStartInfo("/bin/bash", ["-c", $"ulimit -n 128 && exec '{program}' serve --port 0 --max-clients 5000"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using Process server = Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        server.ErrorDataReceived += (_, line) => { if (line.Data is not null) log.Enqueue(line.Data); };
        server.BeginErrorReadLine();
        var held = new List<RawConnection>();
        try
        {
            string? banner = await server.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            int port = int.Parse(Regex.Match(banner ?? "", @":(\d+) ").Groups[1].Value);

            // Fill the descriptor table: every connection is either served or told, unasked, that the server is full.
            var clients = Enumerable.Range(0, 200).Select(_ => RawConnection.Open(port)).ToList();
            await Task.Delay(500);
            int served = 0, refused = 0;
            var unexpected = new List<string>();
            foreach (RawConnection client in clients)
            {
                if (client.Socket.Poll(0, System.Net.Sockets.SelectMode.SelectRead))
                {
                    string words = client.ReadToClose(TimeSpan.FromSeconds(5));
                    if (words != "-ERR max number of clients reached\r\n")
                        unexpected.Add($"#{clients.IndexOf(client)}: '{words}'");
                    refused++;
                    client.Dispose();
                }
                else
                {
                    Assert.Equal("+PONG\r\n", client.Call("PING"));
                    served++;
                    held.Add(client);
                }
            }
            Assert.True(unexpected.Count == 0, $"served {served}, refused {refused}, unexpected: {string.Join(", ", unexpected.Take(5))}; server log: {string.Join(" | ", log)}");
            Assert.True(served > 50 && refused > 0, $"served {served}, refused {refused}: the limit was not reached");

            // More clients arrive while the table is full; the server must not spin on the listening socket.
            var waiting = Enumerable.Range(0, 50).Select(_ => RawConnection.Open(port)).ToList();
            TimeSpan before = CpuTime(server.Id);
            await Task.Delay(2000);
            TimeSpan used = CpuTime(server.Id) - before;
            Assert.True(used < TimeSpan.FromMilliseconds(300), $"the server used {used.TotalMilliseconds} ms of CPU in 2 s at the descriptor limit");
            foreach (RawConnection client in waiting)
            {
                Assert.Equal("-ERR max number of clients reached\r\n", client.ReadToClose(TimeSpan.FromSeconds(5)));
                client.Dispose();
            }

            // Descriptors free up: new clients are served again.
            foreach (RawConnection client in held.Take(20))
                client.Dispose();
            held.RemoveRange(0, 20);
            await Task.Delay(200);
            using RawConnection late = RawConnection.Open(port);
            Assert.Equal("+PONG\r\n", late.Call("PING"));
            Assert.Contains(log, line => line.Contains("out of file descriptors"));
        }
        finally
        {
            held.ForEach(c => c.Dispose());
            if (!server.HasExited)
                server.Kill();
        }
    }

    /// <summary>utime + stime of a process, from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).</summary>
    private static TimeSpan CpuTime(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11]) + long.Parse(fields[12]);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }
}
