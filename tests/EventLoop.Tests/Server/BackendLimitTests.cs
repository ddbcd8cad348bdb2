using System.Net.Sockets;
using System.Text.RegularExpressions;
using EventLoop.Native;
using EventLoop.Tests.Multiplexing;
using EventLoop.Tests.Support;
using static Tmds.Linux.LibC;

namespace EventLoop.Tests.Server;

/// <summary>
/// Where the backends differ: select cannot watch a descriptor at or above FD_SETSIZE and must say so,
/// while poll and select must stay correct with many descriptors, each answered on its own connection.
/// </summary>
/// <remarks>
/// An in-process server shares this process's descriptor table with the test's client sockets, so these
/// tests place descriptors deliberately, and run in the collection that nothing else runs beside.
/// </remarks>
[Collection(nameof(DescriptorNumberSensitive))]
public sealed class BackendLimitTests
{
    private const int FdSetSize = 1024;

    [Fact]
    public async Task Select_refuses_a_connection_at_or_above_fd_setsize_and_keeps_serving_the_others()
    {
        await using var server = new TestServer(new ServerOptions { Backend = "select" });
        using RawConnection anchor = server.Connect();
        var served = new List<RawConnection>();
        RawConnection? refused = null;
        List<int> fillers = OccupyDescriptorsBelow(FdSetSize - 24);
        try
        {
            // Each connection takes two numbers (client and server end): a dozen reach FD_SETSIZE.
            for (int i = 0; i < 64 && refused is null; i++)
            {
                RawConnection candidate = server.Connect();
                // The listener was readable before the anchor's request arrived, so by the time the anchor is
                // answered the candidate was accepted, and a refusal is already on its way to it.
                Assert.Equal("+PONG\r\n", anchor.Call("PING"));
                if (candidate.Socket.Poll(TimeSpan.FromMilliseconds(20), SelectMode.SelectRead))
                    refused = candidate;
                else
                    served.Add(candidate);
            }
            Assert.NotNull(refused);
            Assert.Equal("-ERR too many connections for the select backend\r\n", refused.ReadToClose());
            Match logged = server.Log
                .Select(line => Regex.Match(line, @"^refusing a connection: too many connections for the select backend: descriptor (\d+) is at or above FD_SETSIZE \(1024\)$"))
                .Single(m => m.Success);
            Assert.True(int.Parse(logged.Groups[1].Value) >= FdSetSize, logged.Value);
            Assert.True(served.Count >= 5, $"only {served.Count} connection(s) were served just below FD_SETSIZE");
            for (int i = 0; i < served.Count; i++)
                Assert.Equal($"$7\r\nstill-{i % 10}\r\n", served[i].Call("ECHO", $"still-{i % 10}"));
            Assert.Contains("rejected_connections:1\r\n", FaultTests.Info(anchor));
        }
        finally
        {
            fillers.ForEach(fd => close(fd));
            served.ForEach(c => c.Dispose());
            refused?.Dispose();
        }
    }

    /// <summary>
    /// poll and select scan every watched descriptor on every wait; with many of them, every connection must
    /// still get its own answer: 10,000 for poll, and for select as many as fit below FD_SETSIZE. The server
    /// runs in a child process, whose low descriptor numbers are its own (the test host holds a few hundred).
    /// </summary>
    [Theory]
    [InlineData("poll", 10_000)]
    [InlineData("select", 900)]
    public async Task Many_connections_each_get_their_own_answer(string backend, int connections)
    {
        using CliServer server = await CliServer.StartAsync("--backend", backend, "--max-clients", "20000");
        var clients = new List<RawConnection>();
        try
        {
            for (int i = 0; i < connections; i++)
                clients.Add(RawConnection.Open(server.Port));
            for (int i = 0; i < clients.Count; i++)
                clients[i].SendCommand("RUN", "echo", $"client-{i}");
            for (int i = 0; i < clients.Count; i++)
            {
                string expected = $"client-{i}";
                Assert.Equal($"${expected.Length}\r\n{expected}\r\n", clients[i].ReadReply());
            }
            string info = FaultTests.Info(clients[0]);
            Assert.Contains($"connected_clients:{connections}\r\n", info);
            Assert.Contains("rejected_connections:0\r\n", info);
            Assert.Contains($"multiplexing_api:{backend}\r\n", info);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    /// <summary>Takes every free descriptor number below <paramref name="limit"/> (copies of /dev/null), so the next ones opened land at or above it.</summary>
    private static unsafe List<int> OccupyDescriptorsBelow(int limit)
    {
        var taken = new List<int>();
        int devNull;
        fixed (byte* path = "/dev/null\0"u8)
            devNull = open(path, O_RDONLY | O_CLOEXEC);
        Assert.True(devNull >= 0, $"open /dev/null: {Errno.Describe(Errno.Last)}");
        taken.Add(devNull);
        // F_DUPFD returns the lowest free number: once it returns limit − 1, every number below limit is in use.
        while (taken[^1] < limit - 1)
        {
            int copy = fcntl(devNull, F_DUPFD_CLOEXEC, 0);
            Assert.True(copy >= 0, $"fcntl(F_DUPFD): {Errno.Describe(Errno.Last)}");
            taken.Add(copy);
        }
        return taken;
    }
}
