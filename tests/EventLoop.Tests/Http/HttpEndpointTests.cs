using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EventLoop.Client;
using EventLoop.Tests.Queueing;
using EventLoop.Tests.Server;

namespace EventLoop.Tests.Http;

/// <summary>The HTTP endpoint over a real loopback socket: /metrics, /api/snapshot, the changes, the password.</summary>
public sealed class HttpEndpointTests
{
    [Fact]
    public async Task Metrics_parse_as_Prometheus_text_and_hold_the_numbers_INFO_shows()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        using RawConnection client = server.Connect(), second = server.Connect(), third = server.Connect();
        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "held"));
        for (int i = 0; i < 3; i++)
            client.Submit("echo", "QUEUE", "held", "ARGS", $"{i}");
        client.Submit("echo", "QUEUE", "later", "DELAY", "600000", "ARGS", "x");
        JsonElement snapshot = await HttpKit.SnapshotWhen(http, s => HttpKit.Queue(s, "held")?.GetProperty("queued").GetInt32() == 3
            && HttpKit.Queue(s, "later")?.GetProperty("scheduled").GetInt32() == 1 && s.GetProperty("connections").GetInt32() == 3, "the submitted tasks");
        Assert.Equal(snapshot.GetProperty("takenAtMs").GetInt64(), snapshot.GetProperty("queueReadAtMs").GetInt64()); // in memory: read with each snapshot
        Assert.Equal(JsonValueKind.Null, snapshot.GetProperty("queueError").ValueKind);

        using HttpResponseMessage response = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.MediaType);
        PrometheusText metrics = PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        Dictionary<string, string> info = HttpKit.ParseInfo(QueueKit.Parse(client.Call("INFO")).Text!);

        Assert.Equal(HttpKit.InfoNumber(info, "connected_clients"), metrics.Value("eventloop_connections"));
        Assert.Equal("queued=3,running=0,scheduled=0,paused=1", info["queue_held"]);
        Assert.Equal(3, metrics.Value("eventloop_queue_depth", ("queue", "held")));
        Assert.Equal(1, metrics.Value("eventloop_queue_paused", ("queue", "held")));
        Assert.Equal(1, metrics.Value("eventloop_queue_scheduled", ("queue", "later")));
        Assert.Equal(HttpKit.InfoNumber(info, "submitted_total"), metrics.Value("eventloop_queue_submitted_total"));
        Assert.Equal(HttpKit.InfoNumber(info, "dead"), metrics.Value("eventloop_queue_dead"));
        double commands = metrics.Value("eventloop_commands_total"); // read before INFO, which is one more
        Assert.InRange(commands, 5, HttpKit.InfoNumber(info, "total_commands_processed") - 1);
        Assert.True(metrics.Value("eventloop_loop_iterations_total") > 0);
        Assert.Equal("counter", metrics.TypeOf["eventloop_commands_total"]);
        Assert.Equal("gauge", metrics.TypeOf["eventloop_queue_depth"]);
        Assert.Equal(0, metrics.Value("eventloop_queue_overview_age_seconds"));
    }

    [Fact]
    public async Task The_snapshot_lists_dead_tasks_and_the_dashboard_can_retry_drop_pause_and_resume()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        using RawConnection client = server.Connect();
        string first = client.Submit("fail", "QUEUE", "jobs", "RETRIES", "0", "ARGS", "boom <b>"), second = client.Submit("fail", "QUEUE", "jobs", "ARGS", "again");
        JsonElement snapshot = await HttpKit.SnapshotWhen(http, s => s.GetProperty("deadCount").GetInt32() == 2, "two dead tasks");
        JsonElement dead = snapshot.GetProperty("dead").EnumerateArray().Single(d => d.GetProperty("id").GetString() == first);
        Assert.Equal("fail", dead.GetProperty("task").GetString());
        Assert.Equal("jobs", dead.GetProperty("queue").GetString());
        Assert.Contains("boom <b>", dead.GetProperty("error").GetString());
        Assert.True(dead.GetProperty("finishedAtMs").GetInt64() > 0);

        Assert.Equal("+OK\r\n", client.Call("QUEUE", "PAUSE", "jobs")); // so the retried task stays queued
        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, $"api/dead/{first}/retry")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, $"api/dead/{second}/drop")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await HttpKit.Post(http, $"api/dead/{second}/drop")).StatusCode);
        Assert.Equal(TaskState.Queued, client.State(first));
        Assert.Equal("$-1\r\n", client.Call("STATUS", second));

        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, "api/queues/jobs/resume")).StatusCode);
        Assert.Contains("paused=0", client.Call("INFO", "queueing"));
        client.WaitAll(first); // resumed, the retried task runs (and fails again): no count below may catch it mid-run
        Assert.Equal(HttpStatusCode.NoContent, (await HttpKit.Post(http, "api/queues/jobs/pause")).StatusCode);
        Assert.Contains("queue_jobs:queued=0,running=0,scheduled=0,paused=1", client.Call("INFO", "queueing"));
    }

    [Fact]
    public async Task A_change_without_the_dashboard_header_is_refused()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        using HttpResponseMessage refused = await http.PostAsync("api/queues/x/pause", null);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        using RawConnection client = server.Connect();
        Assert.DoesNotContain("queue_x:", client.Call("INFO", "queueing"));
    }

    [Fact]
    public async Task A_pause_of_a_name_no_queue_can_have_is_answered_400_and_makes_no_queue()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        using HttpResponseMessage refused = await HttpKit.Post(http, "api/queues/two%20words/pause");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("QUEUE must be 1 to 128 printable characters without spaces\n", await refused.Content.ReadAsStringAsync());
        using RawConnection client = server.Connect();
        Assert.Equal("*0\r\n", client.Call("QUEUES"));
    }

    [Fact]
    public async Task With_requirepass_HTTP_answers_401_without_the_password_and_200_with_Basic_or_Bearer()
    {
        await using TestServer server = HttpKit.Start(new ServerOptions { RequirePass = "s3cret" });
        using HttpClient http = HttpKit.Client(server);
        foreach (string path in new[] { "", "metrics", "api/snapshot", "assets/dashboard.js" })
        {
            using HttpResponseMessage anonymous = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            Assert.StartsWith("Basic", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "metrics", new AuthenticationHeaderValue("Bearer", "wrong"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "metrics", Basic("admin", "s3cre"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "metrics", Basic("admin", "s3cret!"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(http, "metrics", new AuthenticationHeaderValue("Basic", "not base64"))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await HttpKit.Post(http, "api/queues/x/pause")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Get(http, "metrics", Basic("anyone", "s3cret"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(http, "", Basic("", "s3cret"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Get(http, "metrics", new AuthenticationHeaderValue("Bearer", "s3cret"))).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret");
        await HttpKit.SnapshotWhen(http, s => s.GetProperty("port").GetInt32() == server.Port, "the server's port");
    }

    [Fact]
    public void Protected_mode_refuses_a_non_loopback_HTTP_bind_without_a_password()
    {
        var refused = Assert.Throws<ArgumentException>(() => new ServerOptions { HttpPort = 7380, HttpBindAddress = "0.0.0.0" }.Validate());
        Assert.Contains("HTTP on 0.0.0.0", refused.Message);
        new ServerOptions { HttpPort = 7380, HttpBindAddress = "0.0.0.0", RequirePass = "x" }.Validate();
        new ServerOptions { HttpPort = 7380, HttpBindAddress = "0.0.0.0", ProtectedMode = false }.Validate();
        new ServerOptions { HttpPort = 0, HttpBindAddress = "0.0.0.0" }.Validate(); // off: nothing to protect
        Assert.Throws<ArgumentException>(() => new ServerOptions { HttpPort = 70000 }.Validate());
    }

    [Fact]
    public async Task Without_an_HTTP_port_no_endpoint_starts()
    {
        await using var server = new TestServer();
        Assert.Equal(0, server.Server.HttpPort);
        Assert.DoesNotContain(server.Log, line => line.Contains("http://"));
    }

    [Fact]
    public async Task The_dashboard_page_and_its_vendored_files_are_served_from_the_binary()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        string page = await http.GetStringAsync("");
        Assert.Contains("<script src=\"/assets/dashboard.js\"></script>", page);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org", ""));
        Assert.DoesNotContain("https://", page);
        foreach (string asset in new[] { "dashboard.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE.txt" })
        {
            using HttpResponseMessage response = await http.GetAsync($"assets/{asset}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True((await response.Content.ReadAsByteArrayAsync()).Length > 100, asset);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("assets/nothing.js")).StatusCode);
    }

    private static async Task<HttpResponseMessage> Get(HttpClient http, string path, AuthenticationHeaderValue authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = authorization;
        return await http.SendAsync(request);
    }

    [Fact]
    public async Task Metrics_hold_latency_histograms_per_command_and_per_task()
    {
        await using TestServer server = HttpKit.Start();
        using HttpClient http = HttpKit.Client(server);
        (await http.GetAsync("metrics")).Dispose(); // the exporter subscribes: from now on latencies are recorded
        using RawConnection client = server.Connect();
        for (int i = 0; i < 20; i++)
            Assert.Equal("+PONG\r\n", client.Call("PING"));
        for (int i = 0; i < 5; i++)
            Assert.Equal("$2\r\nhi\r\n", client.Call("RUN", "echo", "hi"));
        Assert.Equal("-ERR unknown command 'MADEUP'\r\n", client.Call("MADEUP"));

        PrometheusText metrics = PrometheusText.Parse(await http.GetStringAsync("metrics"));
        Assert.Equal("histogram", metrics.TypeOf["eventloop_command_duration_seconds"]);
        Assert.Equal(20, metrics.Value("eventloop_command_duration_seconds_count", ("command", "ping")));
        Assert.Equal(5, metrics.Value("eventloop_command_duration_seconds_count", ("command", "run")));
        Assert.Equal(1, metrics.Value("eventloop_command_duration_seconds_count", ("command", "other"))); // no series per made-up verb
        Assert.Equal(5, metrics.Value("eventloop_task_duration_seconds_count", ("task", "echo")));
        Assert.Equal(20, metrics.Value("eventloop_command_duration_seconds_bucket", ("command", "ping"), ("le", "+Inf")));
        Assert.True(metrics.Value("eventloop_task_duration_seconds_sum", ("task", "echo")) > 0);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
}
