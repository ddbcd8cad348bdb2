using System.Diagnostics;
using System.Text.Json;
using EventLoop.Cli.Load;

namespace EventLoop.Tests.Load;

[Collection(LoadCollection.Name)]
public class LoadRunnerTests(RespServerFixture server)
{
    private LoadOptions Against(int port) => new() { Port = port, Warmup = TimeSpan.Zero, Timeout = TimeSpan.FromSeconds(5) };

    [Fact]
    public async Task Closed_loop_with_a_request_bound_gets_exactly_that_many_replies()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 10, Pipeline = 16, Requests = 20_000, Command = "RUN echo {key}:{payload}", PayloadBytes = 100,
        });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.Equal(20_000, report.Requests);
        Assert.Equal(0, report.Errors);
        Assert.Equal(20_000, report.Latency.Count);
        Assert.True(report.Latency.P50 > 0 && report.Latency.P50 <= report.Latency.P99 && report.Latency.P99 <= report.Latency.Max);
        Assert.Equal(10, report.Connects);
    }

    [Theory]
    [InlineData(false, "epoll")]
    [InlineData(true, "epoll")]
    [InlineData(false, "epoll-et")]
    [InlineData(false, "poll")]
    [InlineData(false, "select")]
    [InlineData(false, "io_uring")]
    public async Task After_the_warmup_the_load_threads_allocate_nothing_per_request(bool openLoop, string backend)
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 20, Pipeline = 4, Warmup = TimeSpan.FromSeconds(0.3), Requests = 12_000,
            Rate = openLoop ? 20_000 : 0, Backend = backend, Command = "RUN echo {key}",
        });
        // Bounded by requests, not time: the check must not depend on how fast a busy machine runs.
        Assert.Equal(12_000, report.Requests);
        Assert.Equal(0, report.Errors);
        // Any allocation per request (24 bytes at least) would come to 240 KB or more here. A code
        // path first taken after the warm-up (a partial send under load) may allocate a few KB once
        // while it is compiled: that is allowed, per-request garbage is not.
        Assert.True(report.GeneratorAllocatedBytes < 16 * 1024,
            $"{report.GeneratorAllocatedBytes} bytes allocated for {report.Requests} requests");
    }

    [Fact]
    public async Task Select_is_refused_for_more_descriptors_than_it_can_watch() =>
        Assert.Contains("--backend select", (await Assert.ThrowsAsync<LoadSetupException>(
            () => LoadRunner.RunAsync(Against(server.Port) with { Backend = "select", Connections = 1100 }))).Message);

    [Fact]
    public async Task An_unknown_backend_is_refused() =>
        Assert.Contains("--backend nope", (await Assert.ThrowsAsync<LoadSetupException>(
            () => LoadRunner.RunAsync(Against(server.Port) with { Backend = "nope" }))).Message);

    [Fact]
    public async Task Several_threads_share_connections_and_requests()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 7, Threads = 2, Pipeline = 4, Requests = 5_001, Idle = 9,
        });
        Assert.Equal(5_001, report.Requests);
        Assert.Equal(16, report.PeakOpenConnections);
        Assert.Equal(16, report.Connects);
        Assert.Equal(7, report.AnsweredConnections); // the idle ones send nothing
    }

    [Fact]
    public async Task The_connect_ramp_respects_the_connect_rate()
    {
        await using var fake = new FaultyRespServer();
        var watch = Stopwatch.StartNew();
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with
        {
            Connections = 200, ConnectRate = 1000, Duration = TimeSpan.FromSeconds(1), // room for the 0.2 s ramp
        });
        Assert.True(report.Connects == 200, report.FormatSummary());
        long[] accepted = fake.AcceptedAt;
        Assert.Equal(200, accepted.Length);
        double spread = (accepted[^1] - accepted[0]) / (double)Stopwatch.Frequency;
        Assert.True(spread >= 0.18, $"200 connects at 1000/s took {spread:0.000} s");
        Assert.True(watch.Elapsed.TotalSeconds >= 0.18);
        // Spread evenly, not in one burst: each half took about half the time (100 ms at 1000/s).
        double firstHalf = (accepted[99] - accepted[0]) / (double)Stopwatch.Frequency;
        double secondHalf = (accepted[199] - accepted[100]) / (double)Stopwatch.Frequency;
        Assert.True(firstHalf >= 0.07 && secondHalf >= 0.07, $"halves took {firstHalf:0.000} s and {secondHalf:0.000} s");
    }

    [Fact]
    public async Task Errors_are_counted_by_kind_when_the_server_closes_connections_and_answers_errors()
    {
        await using var fake = new FaultyRespServer(new ServerFaults { CloseAfter = 100, ErrorEvery = 10 });
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with { Connections = 4, Requests = 2_000 });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.True(report.ErrorsByKind[ErrorKind.Closed] >= 10, $"closed: {report.ErrorsByKind[ErrorKind.Closed]}");
        Assert.InRange(report.ErrorsByKind[ErrorKind.ErrorReply], report.Requests / 10 - 20, report.Requests / 10 + 20);
        Assert.Equal(0, report.ErrorsByKind[ErrorKind.Reset] + report.ErrorsByKind[ErrorKind.Refused]);
        Assert.True(report.Connects > 4); // it reconnected
        Assert.Equal(report.ErrorsByKind.Values.Sum(), report.Errors);
    }

    [Fact]
    public async Task Resets_are_counted_as_resets()
    {
        await using var fake = new FaultyRespServer(new ServerFaults { CloseAfter = 50, ResetOnClose = true });
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with { Connections = 2, Requests = 300 });
        Assert.True(report.ErrorsByKind[ErrorKind.Reset] > 0, report.FormatSummary());
        Assert.Equal(0, report.ErrorsByKind[ErrorKind.Closed]);
    }

    [Fact]
    public async Task A_server_that_never_answers_gives_timeouts_and_the_run_still_ends()
    {
        await using var fake = new FaultyRespServer(new ServerFaults { NeverReply = true });
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with
        {
            Connections = 3, Duration = TimeSpan.FromSeconds(0.3), Timeout = TimeSpan.FromSeconds(0.3),
        });
        Assert.Equal(0, report.Requests);
        Assert.Equal(3, report.ErrorsByKind[ErrorKind.Timeout]);
    }

    [Fact]
    public async Task A_refused_port_ends_the_run_at_once_with_no_connection()
    {
        var watch = Stopwatch.StartNew();
        LoadReport report = await LoadRunner.RunAsync(Against(FaultyRespServer.UnusedPort()) with { Connections = 5 });
        Assert.Equal(LoadOutcome.NoConnection, report.Outcome);
        Assert.Equal(5, report.ErrorsByKind[ErrorKind.Refused]);
        Assert.Contains("refused", report.FirstError, StringComparison.OrdinalIgnoreCase);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), "a refused port should not wait for the duration");
    }

    [Fact]
    public async Task The_json_report_parses_and_holds_the_same_figures_as_the_report()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 4, Rate = 1000, Duration = TimeSpan.FromSeconds(0.3),
        });
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        JsonElement root = json.RootElement;
        Assert.Equal(report.Requests, root.GetProperty("requests").GetInt64());
        Assert.Equal(report.Errors, root.GetProperty("errors").GetInt64());
        Assert.Equal(report.DurationSeconds, root.GetProperty("duration_s").GetDouble(), tolerance: 1e-6);
        Assert.Equal(report.ThroughputRps, root.GetProperty("throughput_rps").GetDouble(), tolerance: 0.05); // rounded to 0.1
        Assert.Equal(4, root.GetProperty("connections").GetInt32());
        Assert.Equal("window", root.GetProperty("pipeline_mode").GetString());
        Assert.Equal(report.Generator.PeakRssBytes, root.GetProperty("generator_peak_rss_bytes").GetInt64());
        Assert.Equal(report.Generator.CpuSeconds, root.GetProperty("generator_cpu_s").GetDouble(), tolerance: 0.0006);
        Assert.Equal(report.Generator.WallSeconds, root.GetProperty("generator_wall_s").GetDouble(), tolerance: 0.0006);
        Assert.Equal(report.Generator.BusiestThread, root.GetProperty("busiest_load_thread").GetDouble(), tolerance: 0.0006);
        AssertSummary(report.Latency, root.GetProperty("latency_us"));
        AssertSummary(report.LatencyUncorrected!, root.GetProperty("latency_uncorrected_us"));
        AssertSummary(report.ConnectTime, root.GetProperty("connect_us"));
        foreach (ErrorKind kind in Enum.GetValues<ErrorKind>())
            Assert.True(root.GetProperty("errors_by_kind").TryGetProperty(ErrorKinds.Name(kind), out _));
    }

    private static void AssertSummary(LatencySummary expected, JsonElement actual)
    {
        Assert.Equal(expected.P50, actual.GetProperty("p50").GetInt64());
        Assert.Equal(expected.P90, actual.GetProperty("p90").GetInt64());
        Assert.Equal(expected.P99, actual.GetProperty("p99").GetInt64());
        Assert.Equal(expected.P999, actual.GetProperty("p999").GetInt64());
        Assert.Equal(expected.P9999, actual.GetProperty("p9999").GetInt64());
        Assert.Equal(expected.Max, actual.GetProperty("max").GetInt64());
    }

    [Fact]
    public async Task Open_loop_reaches_the_target_rate()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 10, Rate = 2000, Duration = TimeSpan.FromSeconds(2), Warmup = TimeSpan.FromSeconds(0.2),
        });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.InRange(report.ThroughputRps, 2000 * 0.98, 2000 * 1.02);
        Assert.InRange(report.Requests, 4000 * 0.98, 4000 * 1.02);
    }

    [Fact]
    public async Task Open_loop_with_a_request_bound_sends_exactly_that_many()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 3, Rate = 5000, Requests = 1_000,
        });
        Assert.Equal(1_000, report.Requests);
        Assert.InRange(report.DurationSeconds, 0.19, 0.5);
    }

    [Fact]
    public async Task A_server_stall_shows_in_corrected_latency_but_not_in_uncorrected()
    {
        // 2000 requests/s on one connection, one in flight at a time; the server holds every reply
        // for 200 ms once. Requests meant for those 200 ms are sent late: only the corrected
        // latency, measured from the intended send time, sees them wait.
        await using var fake = new FaultyRespServer(new ServerFaults
        {
            StallAfterRequests = 1500, StallFor = TimeSpan.FromMilliseconds(200),
        });
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with
        {
            Connections = 1, Rate = 2000, Duration = TimeSpan.FromSeconds(2),
        });
        Assert.Equal(0, report.Errors);
        Assert.True(report.Latency.P999 >= 150_000, $"corrected p99.9 {report.Latency.P999} µs\n{report.FormatSummary()}");
        Assert.True(report.LatencyUncorrected!.P999 < 150_000, $"uncorrected p99.9 {report.LatencyUncorrected.P999} µs\n{report.FormatSummary()}");
        Assert.True(report.LatencyUncorrected.Max >= 150_000); // the one request that was on the wire
    }

    [Theory]
    [InlineData(PipelineMode.Batch, 0)]
    [InlineData(PipelineMode.Window, 0)]
    [InlineData(PipelineMode.Batch, 400)]
    public async Task Batch_mode_sends_a_whole_pipeline_only_once_the_last_one_is_answered(PipelineMode mode, double rate)
    {
        // The server answers the requests of each receive 2 ms apart. A sliding window refills as
        // each reply comes, so the server finds fewer than 4 requests in some receives; batch mode
        // waits for all 4 replies and sends 4 together, closed loop or open.
        await using var fake = new FaultyRespServer(new ServerFaults { ReplyGap = TimeSpan.FromMilliseconds(2) });
        LoadReport report = await LoadRunner.RunAsync(Against(fake.Port) with
        {
            Connections = 2, Pipeline = 4, PipelineMode = mode, Rate = rate, Requests = 200,
        });
        Assert.Equal(200, report.Requests);
        Assert.Equal(0, report.Errors);
        int[] receives = fake.RequestsPerReceive;
        Assert.Equal(200, receives.Sum());
        if (mode == PipelineMode.Batch)
            Assert.All(receives, requests => Assert.Equal(4, requests));
        else
            Assert.Contains(receives, requests => requests < 4);
    }

    [Fact]
    public async Task Open_loop_in_batches_reaches_the_target_rate()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 10, Pipeline = 8, PipelineMode = PipelineMode.Batch, Rate = 8000,
            Duration = TimeSpan.FromSeconds(2), Warmup = TimeSpan.FromSeconds(0.2),
        });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.InRange(report.ThroughputRps, 8000 * 0.98, 8000 * 1.02);
        Assert.Equal(0, report.Requests % 8);
    }

    [Fact]
    public async Task The_report_says_what_the_generator_itself_used()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with { Connections = 4, Rate = 2000, Duration = TimeSpan.FromSeconds(0.5) });
        GeneratorUsage usage = report.Generator;
        Assert.InRange(usage.WallSeconds, 0.5, 30);
        Assert.True(usage.CpuSeconds > 0, $"CPU {usage.CpuSeconds} s");
        Assert.True(usage.PeakRssBytes > 10 << 20, $"peak RSS {usage.PeakRssBytes} B"); // a .NET process holds more than 10 MiB
        Assert.InRange(usage.BusiestThread, 0.0001, 1.05); // the thread sent 1,000 requests: it was on a CPU some of the time
        Assert.Contains("generator    CPU ", report.FormatSummary());
    }

    [Theory]
    [InlineData(0.95, true)]
    [InlineData(0.5, false)]
    public void A_saturated_load_thread_is_pointed_out(double busiest, bool noted)
    {
        var report = new LoadReport
        {
            Options = new LoadOptions(), Target = "127.0.0.1:7379", RequestBytes = 14, Outcome = LoadOutcome.Completed,
            FirstError = null, Requests = 1, ErrorsByKind = ErrorKinds.All.ToDictionary(k => k, _ => 0L), DurationSeconds = 1,
            Latency = LatencySummary.Empty, LatencyUncorrected = null, ConnectTime = LatencySummary.Empty, Connects = 1,
            AnsweredConnections = 1, PeakOpenConnections = 1, GeneratorAllocatedBytes = 0,
            Generator = new GeneratorUsage(CpuSeconds: 1, WallSeconds: 1, PeakRssBytes: 40 << 20, BusiestThread: busiest),
        };
        Assert.Equal(noted, report.FormatSummary().Contains("the generator may have set the pace", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Idle_connections_are_opened_and_held()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 2, Idle = 300, Duration = TimeSpan.FromSeconds(1), // room to connect all 302
        });
        Assert.Equal(302, report.PeakOpenConnections);
        Assert.Equal(0, report.Errors);
        Assert.True(report.Requests > 0);
    }

    [Fact]
    public async Task Warmup_replies_are_not_measured()
    {
        LoadReport report = await LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 2, Rate = 1000, Warmup = TimeSpan.FromSeconds(0.3), Duration = TimeSpan.FromSeconds(0.3),
        });
        Assert.InRange(report.Requests, 280, 320); // 0.3 s at 1000/s, not 0.6 s
    }

    [Fact]
    public async Task A_run_that_cannot_fit_the_open_file_limit_is_refused_clearly()
    {
        var failure = await Assert.ThrowsAsync<LoadSetupException>(() => LoadRunner.RunAsync(Against(server.Port) with
        {
            Connections = 15_000, Idle = 10_000,
        }));
        Assert.Contains("hard limit", failure.Message);
        Assert.Contains("15000 busy + 10000 idle", failure.Message);
    }
}
