using System.Net;
using System.Text.Json;
using EventLoop.Tests.Http;
using EventLoop.Tests.Server;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using static EventLoop.Tests.Queueing.QueueKit;

namespace EventLoop.Tests.Postgres;

/// <summary>
/// The dashboard of a PostgreSQL node shows the shared queue, whichever node changed it, and its buttons change the
/// queue in PostgreSQL (not the node's unused in-memory store): two nodes on one database, HTTP on one of them.
/// </summary>
[Collection(nameof(PostgresCollection))]
public sealed class PostgresDashboardTests(PostgresCluster cluster)
{
    [Fact]
    public async Task The_snapshot_shows_what_another_node_stored_and_the_dashboards_changes_reach_every_node()
    {
        string database = cluster.NewDatabase();
        await using TestServer watched = HttpKit.Start(new ServerOptions { Store = database });
        await using var other = new TestServer(new ServerOptions { Store = database });
        using HttpClient http = HttpKit.Client(watched);
        using RawConnection client = other.Connect();
        string first = client.Submit("fail", "QUEUE", "jobs", "RETRIES", "0", "ARGS", "boom"), second = client.Submit("fail", "QUEUE", "jobs", "RETRIES", "0", "ARGS", "again");
        Assert.Equal(":2\r\n", client.Call("WAIT", "20000", first, second));
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "held"));
        string[] held = [.. Enumerable.Range(0, 3).Select(i => client.Submit("echo", "QUEUE", "held", "ARGS", $"v{i}"))];
        Assert.Equal("+OK\r\n", client.Call("SCHEDULE", "ADD", "hourly", "EVERY", "3600000", "echo", "QUEUE", "later", "ARGS", "x"));

        JsonElement snapshot = await HttpKit.SnapshotWhen(http, s => s.GetProperty("deadCount").GetInt64() == 2
            && HttpKit.Queue(s, "held")?.GetProperty("queued").GetInt64() == 3 && s.GetProperty("schedules").GetArrayLength() == 1, "the other node's tasks");
        Assert.True(HttpKit.Queue(snapshot, "held")!.Value.GetProperty("paused").GetBoolean());
        JsonElement dead = snapshot.GetProperty("dead").EnumerateArray().Single(d => d.GetProperty("id").GetString() == first);
        Assert.Equal("fail", dead.GetProperty("task").GetString());
        Assert.Equal("jobs", dead.GetProperty("queue").GetString());
        Assert.Contains("boom", dead.GetProperty("error").GetString());
        Assert.Equal(1, dead.GetProperty("attempt").GetInt32());
        JsonElement schedule = snapshot.GetProperty("schedules")[0];
        Assert.Equal(("hourly", "echo", "later"), (schedule.GetProperty("name").GetString(), schedule.GetProperty("task").GetString(), schedule.GetProperty("queue").GetString()));
        JsonElement totals = snapshot.GetProperty("totals");
        Assert.Equal(5, totals.GetProperty("tasks").GetInt64()); // two dead, three held
        Assert.True(totals.GetProperty("oldestQueuedAgeMs").GetInt64() >= 0);
        Assert.Equal(JsonValueKind.Null, totals.GetProperty("submitted").ValueKind); // no one node counts the whole queue's

        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "jobs")); // so the retried task stays queued
        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, $"api/dead/{first}/retry")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, $"api/dead/{second}/drop")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await HttpKit.Post(http, $"api/dead/{second}/drop")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await HttpKit.Post(http, "api/dead/not-an-id/retry")).StatusCode);
        Assert.Equal(EventLoop.Client.TaskState.Queued, client.State(first));
        Assert.Equal("$-1\r\n", client.Call("STATUS", second));

        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, "api/queues/held/resume")).StatusCode);
        Assert.Equal(":3\r\n", client.Call(["WAIT", "20000", .. held])); // resumed in PostgreSQL: the other node's workers run them
        Assert.Contains($"{Bulk("held")}:0\r\n:0\r\n:0\r\n:0\r\n", client.Call("QUEUES"));
        await HttpKit.SnapshotWhen(http, s => s.GetProperty("deadCount").GetInt64() == 0 && HttpKit.Queue(s, "held")?.GetProperty("paused").GetBoolean() == false
            && HttpKit.Queue(s, "jobs")?.GetProperty("queued").GetInt64() == 1, "the changes");

        using HttpResponseMessage scrape = await http.GetAsync("metrics");
        PrometheusText metrics = PrometheusText.Parse(await scrape.Content.ReadAsStringAsync());
        Assert.Equal(1, metrics.Value("eventloop_queue_depth", ("queue", "jobs")));
        Assert.Equal(1, metrics.Value("eventloop_queue_paused", ("queue", "jobs")));
        Assert.Equal(0, metrics.Value("eventloop_queue_dead"));
        Assert.DoesNotContain(metrics.Samples, sample => sample.Name.StartsWith("eventloop_queue_submitted", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_overview_is_queried_only_while_someone_reads_the_snapshot()
    {
        await using TestServer server = HttpKit.Start(new ServerOptions { Store = cluster.NewDatabase() });
        using HttpClient http = HttpKit.Client(server);
        using RawConnection client = server.Connect();
        Thread.Sleep(1500); // six snapshots built, none read
        Assert.Equal("0", PostgresNodesTests.StoreInfo(client)["store_overview_reads"]);
        client.Submit("echo", "QUEUE", "seen", "DELAY", "600000");
        await HttpKit.SnapshotWhen(http, s => HttpKit.Queue(s, "seen")?.GetProperty("scheduled").GetInt64() == 1, "the delayed task");
        Assert.NotEqual("0", PostgresNodesTests.StoreInfo(client)["store_overview_reads"]);
    }

    [Fact]
    public async Task While_the_database_is_down_the_dashboard_keeps_the_last_figures_and_says_how_old_they_are_and_why()
    {
        await using TestServer server = HttpKit.Start(new ServerOptions { Store = cluster.NewDatabase() });
        using HttpClient http = HttpKit.Client(server);
        using RawConnection client = server.Connect();
        client.Submit("echo", "QUEUE", "kept", "DELAY", "600000");
        JsonElement before = await HttpKit.SnapshotWhen(http, s => HttpKit.Queue(s, "kept")?.GetProperty("scheduled").GetInt64() == 1, "the delayed task");
        using ChromeDriver browser = DashboardBrowserTests.StartBrowser();
        browser.Navigate().GoToUrl($"http://127.0.0.1:{server.Server.HttpPort}/");
        var wait = new WebDriverWait(browser, HttpKit.Patience);
        wait.Until(_ => DashboardBrowserTests.CellText(browser, "kept", "scheduled") is "1" && DashboardBrowserTests.Hidden(browser, "queue-stale"));
        Assert.Equal(JsonValueKind.Null, before.GetProperty("queueError").ValueKind);
        Assert.InRange(before.GetProperty("queueReadAtMs").GetInt64(), 1, before.GetProperty("takenAtMs").GetInt64());
        long lastRead;
        cluster.Stop();
        try
        {
            JsonElement down = await HttpKit.SnapshotWhen(http, s => s.GetProperty("queueError").ValueKind == JsonValueKind.String, "the failed overview");
            lastRead = down.GetProperty("queueReadAtMs").GetInt64();
            Assert.InRange(lastRead, before.GetProperty("queueReadAtMs").GetInt64(), down.GetProperty("takenAtMs").GetInt64() - 1);
            Assert.Equal(1, HttpKit.Queue(down, "kept")!.Value.GetProperty("scheduled").GetInt64()); // the last figures, not empty ones
            Thread.Sleep(1200);
            JsonElement later = await HttpKit.SnapshotWhen(http, s => s.GetProperty("takenAtMs").GetInt64() > down.GetProperty("takenAtMs").GetInt64() + 1000, "a later snapshot");
            Assert.Equal(lastRead, later.GetProperty("queueReadAtMs").GetInt64());
            PrometheusText metrics = PrometheusText.Parse(await http.GetStringAsync("metrics"));
            Assert.True(metrics.Value("eventloop_queue_overview_age_seconds") >= 1, "the gauges' age does not grow while the database is down");
            Assert.Equal(1, metrics.Value("eventloop_queue_scheduled", ("queue", "kept")));
            string banner = wait.Until(_ => DashboardBrowserTests.Hidden(browser, "queue-stale") ? null : DashboardBrowserTests.TextOf(browser, "#queue-stale"));
            Assert.StartsWith("Queue figures as of ", banner);
            Assert.Contains("the store could not be read: ", banner);
            Assert.Equal("1", DashboardBrowserTests.CellText(browser, "kept", "scheduled"));
        }
        finally
        {
            cluster.Start();
        }
        JsonElement after = await HttpKit.SnapshotWhen(http, s => s.GetProperty("queueError").ValueKind == JsonValueKind.Null, "the overview read again");
        Assert.True(after.GetProperty("queueReadAtMs").GetInt64() > lastRead);
        wait.Until(_ => DashboardBrowserTests.Hidden(browser, "queue-stale"));
        Assert.Single(server.Log, line => line.Contains("overview could not be read"));
        Assert.Single(server.Log, line => line.Contains("overview is read again"));
    }
}
