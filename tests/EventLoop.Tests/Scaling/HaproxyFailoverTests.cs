using System.Diagnostics;
using System.Text.Json;
using EventLoop.Cli.Load;
using EventLoop.Client;

namespace EventLoop.Tests.Scaling;

/// <summary>
/// RUN through HAProxy with docs/haproxy.cfg in front of two real nodes, one of which is SIGKILLed under load
/// (docs/scaling.md, "RUN behind HAProxy").
/// </summary>
public sealed class HaproxyFailoverTests : IDisposable
{
    // The config checks every 500 ms and needs 2 results in a row: 0.5-1.5 s, with room for a loaded machine.
    private static readonly TimeSpan CheckBound = TimeSpan.FromSeconds(6);
    // A killed node's clients see their connections close at once (a hung node's once it is marked down) and
    // reconnect through HAProxy to the survivor: each step of that within this.
    private static readonly TimeSpan ResumeBound = TimeSpan.FromSeconds(3);
    private readonly string _directory = Directory.CreateTempSubdirectory("eventloop-haproxy-").FullName;

    [Fact]
    public async Task Clients_of_a_killed_node_go_on_on_the_other_and_the_node_takes_new_clients_once_it_is_back()
    {
        using var cluster = await Cluster.StartAsync(_directory);
        (ServeNode node2, HaproxyBalancer balancer) = (cluster.Node2, cluster.Balancer);
        var load = new EchoClients(balancer.Port, clients: 8);
        await using (load)
        {
            await WaitUntilAsync(() => load.AllAnsweredSince(0) && load.Replies > 500, CheckBound, "every client answered", load);
            int onNode2 = await OpenSessionsAsync(balancer, "node2");
            Assert.True(onNode2 > 0, "leastconn gave the second node none of the 8 clients");

            node2.Kill();
            await ResumeOnTheOtherNodeAsync(load, onNode2);
            await balancer.WaitForAsync("node2", "DOWN", CheckBound);
            await balancer.WaitForLogAsync("Server eventloop/node2 is DOWN", CheckBound);
            Assert.Equal(8, await OpenSessionsAsync(balancer, "node1"));

            await node2.RestartAsync();
            await balancer.WaitForAsync("node2", "UP", CheckBound);
            await balancer.WaitForLogAsync("Server eventloop/node2 is UP", CheckBound);
            // Open connections stay where they are; new ones go to the node with the fewest: the one that came back.
            await using (var newcomers = new EchoClients(balancer.Port, clients: 4))
            {
                await WaitUntilAsync(() => newcomers.AllAnsweredSince(0), CheckBound, "every new client answered", newcomers);
                Assert.Equal(4, await OpenSessionsAsync(balancer, "node2"));
                Assert.Empty(newcomers.Failures);
            }
            Assert.True(await RunsServedAsync(node2.Port) >= 4, "the restarted node ran none of the new clients' requests");
        }
        Assert.Empty(load.Failures);
    }

    [Fact]
    public async Task Clients_of_a_node_that_hangs_are_disconnected_once_the_check_marks_it_down_and_go_on_on_the_other()
    {
        using var cluster = await Cluster.StartAsync(_directory);
        (ServeNode node2, HaproxyBalancer balancer) = (cluster.Node2, cluster.Balancer);
        var load = new EchoClients(balancer.Port, clients: 8);
        await using (load)
        {
            await WaitUntilAsync(() => load.AllAnsweredSince(0), CheckBound, "every client answered", load);
            int onNode2 = await OpenSessionsAsync(balancer, "node2");
            Assert.True(onNode2 > 0, "leastconn gave the second node none of the 8 clients");

            node2.Pause(); // its sockets stay open: only the failed checks, then shutdown-sessions, free its clients
            try
            {
                await balancer.WaitForAsync("node2", "DOWN", CheckBound);
                await ResumeOnTheOtherNodeAsync(load, onNode2);
                Assert.Equal(8, await OpenSessionsAsync(balancer, "node1"));
            }
            finally
            {
                node2.Resume();
            }
            await balancer.WaitForAsync("node2", "UP", CheckBound);
        }
        Assert.Empty(load.Failures); // no request waited EchoClients.HangLimit for a reply that never came
    }

    [Fact]
    public async Task The_load_generator_rides_through_a_node_killed_mid_run_reopening_what_it_lost()
    {
        using var cluster = await Cluster.StartAsync(_directory);
        (ServeNode node2, HaproxyBalancer balancer) = (cluster.Node2, cluster.Balancer);
        string json = Path.Combine(_directory, "load.json");
        var output = new StringWriter();
        var errors = new StringWriter();
        Task<int> run = Task.Run(() => LoadCommand.Run(["--port", balancer.Port.ToString(), "-c", "8", "--duration", "3s",
            "--warmup", "0", "--timeout", "5s", "--command", "RUN echo {payload}", "--json", json], output, errors, liveProgress: false));
        await Task.Delay(TimeSpan.FromSeconds(1));
        node2.Kill();

        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(15)));
        using JsonDocument report = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement root = report.RootElement;
        JsonElement byKind = root.GetProperty("errors_by_kind");
        Assert.Equal("completed", root.GetProperty("outcome").GetString());
        Assert.True(byKind.GetProperty("closed").GetInt64() + byKind.GetProperty("reset").GetInt64() >= 1, output.ToString());
        foreach (string kind in new[] { "refused", "timeout", "error_reply", "protocol", "other" })
            Assert.True(byKind.GetProperty(kind).GetInt64() == 0, $"{kind}: {output}");
        Assert.Equal(8, root.GetProperty("answered_connections").GetInt32());
        Assert.True(root.GetProperty("connects").GetInt64() > 8, "no connection was opened again"); // the lost ones reconnected
        Assert.True(root.GetProperty("requests").GetInt64() > 1000, output.ToString());
    }

    /// <summary>
    /// Waits for each of the <paramref name="lostClients"/> to see its connection close, then for every client to be
    /// answered after that: the lost ones through new connections, which HAProxy can only have given to the other node.
    /// </summary>
    private static async Task ResumeOnTheOtherNodeAsync(EchoClients load, int lostClients)
    {
        await WaitUntilAsync(() => load.Disconnects >= lostClients, ResumeBound, $"the {lostClients} clients of the lost node saw a close", load);
        long closedAt = Stopwatch.GetTimestamp();
        await WaitUntilAsync(() => load.AllAnsweredSince(closedAt), ResumeBound, "every client answered after the closes", load);
    }

    /// <summary>Connections HAProxy holds open to <paramref name="server"/> (<c>scur</c>).</summary>
    private static async Task<int> OpenSessionsAsync(HaproxyBalancer balancer, string server) =>
        int.Parse((await balancer.ServerStatAsync(server))!["scur"]);

    /// <summary>RUNs the node on <paramref name="port"/> ran, on its workers or inline, asked directly (not through HAProxy).</summary>
    private static async Task<long> RunsServedAsync(int port)
    {
        await using EventLoopClient direct = await EventLoopClient.ConnectAsync("127.0.0.1", port);
        Dictionary<string, string> info = (await direct.InfoAsync("queue")).Split("\r\n")
            .Select(line => line.Split(':', 2)).Where(pair => pair.Length == 2).ToDictionary(pair => pair[0], pair => pair[1]);
        return long.Parse(info["tasks_submitted"]) + long.Parse(info["tasks_run_inline"]);
    }

    /// <summary>Polls <paramref name="condition"/>; past <paramref name="within"/>, fails saying what did not happen and what the clients saw.</summary>
    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan within, string what, EchoClients clients)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within)
                throw new TimeoutException($"not within {within.TotalSeconds} s: {what}; {clients.Replies} replies, " +
                    $"{clients.Disconnects} disconnects, failures: {string.Join(" | ", clients.Failures)}");
            await Task.Delay(20);
        }
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Two nodes and HAProxy in front of them, all stopped on dispose.</summary>
    private sealed class Cluster(ServeNode node1, ServeNode node2, HaproxyBalancer balancer) : IDisposable
    {
        public ServeNode Node2 { get; } = node2;
        public HaproxyBalancer Balancer { get; } = balancer;

        public static async Task<Cluster> StartAsync(string directory)
        {
            ServeNode node1 = await ServeNode.StartAsync();
            ServeNode? node2 = null;
            try
            {
                node2 = await ServeNode.StartAsync();
                return new Cluster(node1, node2, await HaproxyBalancer.StartAsync(directory, node1.Port, node2.Port, CheckBound));
            }
            catch
            {
                node2?.Dispose();
                node1.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Balancer.Dispose();
            Node2.Dispose();
            node1.Dispose();
        }
    }
}
