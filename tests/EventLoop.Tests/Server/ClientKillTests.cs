using EventLoop.Multiplexing;
using EventLoop.Native;
using EventLoop.Tests.Multiplexing;
using Tmds.Linux;
using static Tmds.Linux.LibC;

namespace EventLoop.Tests.Server;

/// <summary>
/// CLIENT KILL ID closes another client at once, which is also how one event of a batch can close the
/// connection that a later event of the same batch belongs to: that stale event must not touch it.
/// </summary>
[Collection(nameof(DescriptorNumberSensitive))]
public sealed class ClientKillTests
{
    [Fact]
    public async Task Client_kill_id_closes_that_client_and_answers_how_many_it_closed()
    {
        await using var server = new TestServer();
        using RawConnection killer = server.Connect();
        using RawConnection victim = server.Connect();
        long victimId = ClientId(victim);
        victim.SendCommand("RUN", "sleep", "200");
        await FaultTests.WaitUntil(() => FaultTests.Info(killer).Contains("tasks_in_progress:1\r\n"));

        Assert.Equal(":1\r\n", killer.Call("CLIENT", "KILL", "ID", victimId.ToString()));
        Assert.Equal("", victim.ReadToClose());
        Assert.Equal(":0\r\n", killer.Call("CLIENT", "KILL", "ID", victimId.ToString()));
        Assert.Equal(":0\r\n", killer.Call("CLIENT", "KILL", "ID", ClientId(killer).ToString())); // SKIPME, as in Redis
        Assert.Equal("-ERR client-id should be greater than 0\r\n", killer.Call("CLIENT", "KILL", "ID", "0"));
        Assert.Equal("-ERR client-id should be greater than 0\r\n", killer.Call("CLIENT", "KILL", "ID", "x"));
        // The killed client's task comes back to a closed connection and is dropped.
        await FaultTests.WaitUntil(() => FaultTests.Info(killer) is var info
            && info.Contains("connected_clients:1\r\n") && info.Contains("tasks_in_progress:0\r\n"));
    }

    /// <summary>
    /// A and B each ask to kill the other, and the reactor is held at its wait until both requests (and a
    /// new connection C) are in, so one wait reports A and B together. Whichever the backend reports first
    /// kills the other; the second one's event, later in the same batch, is then stale. The killed client
    /// must get nothing and its request must not run (else it would have killed the killer); C, which may
    /// be accepted into the killed client's descriptor number within that batch, is served as itself.
    /// </summary>
    [Theory]
    [MemberData(nameof(Backends.All), MemberType = typeof(Backends))]
    public async Task A_client_killed_by_an_earlier_event_of_the_same_batch_is_not_touched_again(string backend)
    {
        const int rounds = 200;
        await using var server = new GatedServer(backend);
        using RawConnection nudge = server.Connect();
        for (int round = 0; round < rounds; round++)
        {
            using RawConnection a = server.Connect();
            (long idA, int fdA) = (ClientId(a), server.Gate.NewestDescriptor);
            using RawConnection b = server.Connect();
            (long idB, int fdB) = (ClientId(b), server.Gate.NewestDescriptor);

            server.HoldAtNextWait(nudge);
            string cPayload = $"c{round}";
            a.SendCommand("CLIENT", "KILL", "ID", idB.ToString());
            // Where C arrives decides, on backends that report in arrival order, whether the stale event
            // finds an empty slot or C already accepted into the killed client's number: alternate both.
            RawConnection? early = round % 2 == 0 ? OpenAndSend(server.Port, "ECHO", cPayload) : null;
            b.SendCommand("CLIENT", "KILL", "ID", idA.ToString());
            using RawConnection c = early ?? OpenAndSend(server.Port, "ECHO", cPayload);
            WaitUntilReadable(fdA, fdB);
            ReadyEvent[] batch = server.Gate.Release();

            int positionA = Array.FindIndex(batch, e => e.Fd == fdA);
            int positionB = Array.FindIndex(batch, e => e.Fd == fdB);
            Assert.True(positionA >= 0 && positionB >= 0,
                $"round {round}: A (fd {fdA}) and B (fd {fdB}) were not reported in one batch: [{string.Join(", ", batch)}]");
            (RawConnection killer, RawConnection killed) = positionA < positionB ? (a, b) : (b, a);
            Assert.Equal(":1\r\n", killer.ReadReply());
            Assert.Equal("", killed.ReadToClose());
            Assert.Equal("+PONG\r\n", killer.Call("PING"));
            Assert.Equal($"${cPayload.Length}\r\n{cPayload}\r\n", c.ReadReply());
            Assert.Equal("$5\r\nagain\r\n", c.Call("ECHO", "again"));
            Assert.Equal("+PONG\r\n", nudge.ReadReply());
        }
        Assert.False(server.Reactor.Completion.IsCompleted, $"the reactor stopped: {server.Reactor.Completion.Exception}");
        Assert.DoesNotContain(server.Log, line => line.Contains("unexpected error") || line.Contains("reactor failed"));
    }

    private static RawConnection OpenAndSend(int port, params string[] command)
    {
        RawConnection client = RawConnection.Open(port);
        client.SendCommand(command);
        return client;
    }

    private static long ClientId(RawConnection client) => long.Parse(client.Call("CLIENT", "ID")[1..^2]);

    /// <summary>Polls the server's own ends (this process holds both) until both have data, without reading it.</summary>
    private static unsafe void WaitUntilReadable(int first, int second)
    {
        pollfd* fds = stackalloc pollfd[2];
        DateTime deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            fds[0] = new pollfd { fd = first, events = POLLIN };
            fds[1] = new pollfd { fd = second, events = POLLIN };
            int ready = poll(fds, 2, 10);
            Assert.True(ready >= 0, $"poll: {Errno.Describe(Errno.Last)}");
            if ((fds[0].revents & POLLIN) != 0 && (fds[1].revents & POLLIN) != 0)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the kill requests did not arrive at the server's sockets");
        }
    }
}
