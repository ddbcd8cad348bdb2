using System.Net.Sockets;
using EventLoop.Tests.Support;

namespace EventLoop.Tests.Server;

/// <summary>
/// What clients make the server hold, over real sockets: the pre-AUTH limits and the budget for all clients
/// together (--maxmemory-clients), with the server's memory measured where the issue measured it.
/// </summary>
public sealed class ClientMemoryTests
{
    private const int MiB = 1 << 20;

    [Fact]
    public async Task Over_the_client_memory_budget_the_largest_client_is_evicted_first_and_the_others_are_served()
    {
        await using var server = new TestServer(new ServerOptions { MaxMemoryClients = 8 * MiB });
        using RawConnection bystander = server.Connect();
        using RawConnection small = server.Connect();
        using RawConnection large = server.Connect();
        string largeId = large.Call("CLIENT", "ID")[1..^2];
        byte[] smallRequest = EchoOf(3_000_000);
        small.Send(smallRequest[..MiB]);
        await FaultTests.WaitUntil(() => MemoryHeld(bystander) >= 3_000_000);

        large.Send(EchoOf(6_000_000)[..MiB]); // together over 8 MiB: the larger goes
        Assert.True(large.IsClosedByServer(TimeSpan.FromSeconds(10)));
        string stats = bystander.Call("INFO", "stats");
        Assert.Contains("evicted_clients:1\r\n", stats);
        Assert.Single(server.Log, line => line.StartsWith($"evicting client {largeId}: it holds "));

        // The smaller one, under the budget with its reply, was never a candidate.
        small.Send(smallRequest[MiB..]);
        Assert.Equal(3_000_000 + 12, small.ReadReply(TimeSpan.FromSeconds(10)).Length);
        Assert.Equal("+PONG\r\n", bystander.Call("PING"));
        Assert.Contains("evicted_clients:1\r\n", bystander.Call("INFO", "stats"));
    }

    [Fact]
    public async Task Under_the_client_memory_budget_no_client_is_ever_evicted()
    {
        await using var server = new TestServer(new ServerOptions { MaxMemoryClients = 64 * MiB });
        var clients = Enumerable.Range(0, 8).Select(_ => server.Connect()).ToList();
        byte[] request = EchoOf(2 * MiB);
        foreach (RawConnection client in clients)
            client.Send(request[..MiB]); // 8 partial requests of 2 MiB: 16 MiB held
        foreach (RawConnection client in clients)
            client.Send(request[MiB..]);
        foreach (RawConnection client in clients)
            Assert.Equal(2 * MiB + 12, client.ReadReply().Length);
        Assert.Contains("evicted_clients:0\r\n", clients[0].Call("INFO", "stats"));
        await FaultTests.WaitUntil(() => MemoryHeld(clients[0]) < 64 * 1024); // everything given back once answered
        clients.ForEach(c => c.Dispose());
    }

    [Fact]
    public void The_default_budget_protects_a_default_install_and_zero_means_no_limit()
    {
        long budget = new ServerOptions().MaxMemoryClients;
        Assert.InRange(budget, 1, 1L << 30);
        Assert.True(budget <= GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4);
        new ServerOptions { MaxMemoryClients = 0 }.Validate();
        Assert.Throws<ArgumentException>(() => new ServerOptions { MaxMemoryClients = -1 }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerOptions { MaxUnauthenticatedArgs = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new ServerOptions { MaxUnauthenticatedBulkBytes = 0 }.Validate());
    }

    /// <summary>The second attack: 30 clients each sending 8 MB of a 16 MB argument, without a password.</summary>
    [Fact]
    public async Task Clients_sending_half_of_a_16_MB_argument_are_held_to_the_budget()
    {
        using CliServer server = await CliServer.StartAsync("--maxmemory-clients", "64m");
        long start = server.Rss();
        byte[] half = EchoOf(16 * MiB)[..(8 * MiB)];
        using var peak = new PeakRss(server);
        var clients = Enumerable.Range(0, 30).Select(_ => RawConnection.Open(server.Port)).ToList();
        await Task.WhenAll(clients.Select(c => SendAndSeeClose(c.Socket, half, TimeSpan.FromSeconds(1))));
        using RawConnection observer = RawConnection.Open(server.Port);
        await FaultTests.WaitUntil(() => MemoryHeld(observer) <= 64 * MiB);
        long growth = peak.Stop() - start;
        Assert.True(growth < 64 * MiB, $"server RSS grew by {growth / MiB} MiB");
        Assert.Contains("evicted_clients:", observer.Call("INFO", "stats"));
        Assert.True(Evicted(observer) >= 25, $"{Evicted(observer)} evicted; held {MemoryHeld(observer)}");
        Assert.Equal("+PONG\r\n", observer.Call("PING"));
        clients.ForEach(c => c.Dispose());
    }

    /// <summary>The acceptance test: garbage from 1,000 connections that never authenticate.</summary>
    [Fact]
    public async Task A_thousand_unauthenticated_connections_sending_a_megabyte_of_garbage_leave_the_rss_flat_and_are_all_closed()
    {
        using CliServer server = await CliServer.StartAsync("--requirepass", "s3cret");
        long start = server.Rss();
        var random = new Random(15);
        byte[] noise = new byte[MiB];
        random.NextBytes(noise);
        byte[][] garbage =
        [
            noise,                                                  // binary noise: inline lines that break at once
            [.. Enumerable.Repeat((byte)'x', MiB)],                 // one endless inline line
            EchoOf(2 * MiB)[..MiB],                                 // the first attack: half of a 2 MB ECHO
            [.. "*1000\r\n"u8, .. noise.AsSpan(0, MiB - 7)],        // a long multibulk
        ];
        using var peak = new PeakRss(server);
        var clients = Enumerable.Range(0, 1000).Select(_ => RawConnection.Open(server.Port)).ToList();
        bool[] closed = await Task.WhenAll(clients.Select((c, i) => SendAndSeeClose(c.Socket, garbage[i % garbage.Length], TimeSpan.FromSeconds(10))));
        Assert.All(closed, Assert.True);
        clients.ForEach(c => c.Dispose());

        using RawConnection observer = RawConnection.Open(server.Port);
        Assert.Equal("+OK\r\n", observer.Call("AUTH", "s3cret"));
        await FaultTests.WaitUntil(() => FaultTests.Info(observer).Contains("connected_clients:1\r\n"), 15_000);
        long growth = peak.Stop() - start;
        Assert.True(growth < 50 * MiB, $"server RSS grew by {growth / MiB} MiB");
        Assert.Contains("protocol_errors:1000\r\n", observer.Call("INFO", "stats"));
    }

    private static byte[] EchoOf(int length) => RawConnection.EncodeBytes("ECHO"u8.ToArray(), [.. Enumerable.Repeat((byte)'e', length)]);

    /// <summary>
    /// Sends <paramref name="data"/> while reading whatever comes back; true when the server closed the
    /// connection (FIN or reset) before <paramref name="patience"/> passed after the last byte was sent.
    /// </summary>
    private static async Task<bool> SendAndSeeClose(Socket socket, byte[] data, TimeSpan patience)
    {
        Task send = SendIgnoringReset(socket, data);
        using var giveUp = new CancellationTokenSource();
        Task armed = send.ContinueWith(_ => giveUp.CancelAfter(patience), TaskScheduler.Default);
        byte[] buffer = new byte[4096];
        bool closed = true;
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, giveUp.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // a reset is a close too
        }
        catch (OperationCanceledException)
        {
            closed = false;
        }
        await armed;
        return closed;
    }

    private static async Task SendIgnoringReset(Socket socket, byte[] data)
    {
        try
        {
            await socket.SendAsync(data);
        }
        catch (SocketException)
        {
            // the server closed it before taking everything
        }
    }

    private static long MemoryHeld(RawConnection client) => Field(client.Call("INFO", "memory"), "mem_clients_normal");

    private static long Evicted(RawConnection client) => Field(client.Call("INFO", "stats"), "evicted_clients");

    private static long Field(string info, string name) =>
        long.Parse(info.Split("\r\n").Single(l => l.StartsWith(name + ":"))[(name.Length + 1)..]);

    /// <summary>Samples a server's RSS every 10 ms until stopped; returns the highest seen.</summary>
    private sealed class PeakRss : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task<long> _sampler;

        public PeakRss(CliServer server) => _sampler = Task.Run(async () =>
        {
            long peak = 0;
            while (!_stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, server.Rss());
                await Task.Delay(10);
            }
            return Math.Max(peak, server.Rss());
        });

        public long Stop()
        {
            _stop.Cancel();
            return _sampler.GetAwaiter().GetResult();
        }

        public void Dispose() => _stop.Cancel();
    }
}
