using System.Text.Json;
using EventLoop.Cli.Load;
using Microsoft.Extensions.Logging.Abstractions;

namespace EventLoop.Tests.Load;

/// <summary><c>eventloop load --lifecycle</c>: SUBMIT, then RESULT on the returned id, against real servers over loopback.</summary>
[Collection(LoadCollection.Name)]
public class LifecycleLoadTests(RespServerFixture server)
{
    private static LoadOptions Lifecycles(int port) => new()
    {
        Port = port, Lifecycle = true, Warmup = TimeSpan.Zero, Timeout = TimeSpan.FromSeconds(10),
    };

    private static void AssertOnly(LoadReport report, ErrorKind kind, long count)
    {
        foreach (ErrorKind other in ErrorKinds.All)
            Assert.True(report.ErrorsByKind[other] == (other == kind ? count : 0),
                $"{ErrorKinds.Name(other)}: {report.ErrorsByKind[other]}\n{report.FormatSummary()}");
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(16, 16)]
    [InlineData(4, 0)]        // an empty payload: no tag, the result is an empty string
    [InlineData(3, 1 << 20)]  // replies that span many reads, and sends of 3 MiB that the kernel takes in parts
    public async Task Closed_loop_with_a_bound_runs_exactly_that_many_lifecycles_and_each_result_echoes_its_payload(int pipeline, int payloadBytes)
    {
        long expected = payloadBytes > 1024 ? 48 : 4_000;
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with
        {
            Connections = 8, Pipeline = pipeline, PayloadBytes = payloadBytes, Requests = expected,
        });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.True(report.IsLifecycle);
        Assert.Equal(expected, report.Requests);
        Assert.Equal(expected, report.Latency.Count);
        Assert.True(report.Errors == 0, report.FormatSummary());
        Assert.Equal(8, report.AnsweredConnections);
    }

    [Fact]
    public async Task Open_loop_keeps_the_rate_of_lifecycles_and_corrects_from_the_submits_intended_time()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with
        {
            Connections = 10, Pipeline = 4, Rate = 2000, Duration = TimeSpan.FromSeconds(2), Warmup = TimeSpan.FromSeconds(0.2),
        });
        Assert.Equal(LoadOutcome.Completed, report.Outcome);
        Assert.True(report.Errors == 0, report.FormatSummary());
        Assert.InRange(report.ThroughputRps, 2000 * 0.98, 2000 * 1.02);
        Assert.InRange(report.Requests, 4000 * 0.98, 4000 * 1.02);
        Assert.NotNull(report.LatencyUncorrected);
        Assert.Equal(report.Requests, report.LatencyUncorrected.Count);
        Assert.True(report.LatencyUncorrected.P50 <= report.Latency.P50); // never later than the intended send
    }

    [Fact]
    public async Task Open_loop_with_a_bound_runs_exactly_that_many()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with { Connections = 3, Rate = 5000, Requests = 1_000 });
        Assert.Equal(1_000, report.Requests);
        Assert.Equal(0, report.Errors);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_the_warmup_a_lifecycle_allocates_nothing(bool openLoop)
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with
        {
            Connections = 20, Pipeline = 4, Warmup = TimeSpan.FromSeconds(0.3), Requests = 6_000, Rate = openLoop ? 10_000 : 0,
        });
        Assert.Equal(6_000, report.Requests);
        Assert.Equal(0, report.Errors);
        // As for requests: per-lifecycle garbage would be 144 KB or more here; a path compiled late may allocate a few KB once.
        Assert.True(report.GeneratorAllocatedBytes < 16 * 1024, $"{report.GeneratorAllocatedBytes} bytes allocated for {report.Requests} lifecycles");
    }

    [Fact]
    public async Task A_thousand_connections_each_finish_lifecycles()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with { Connections = 1_000, Requests = 5_000 });
        Assert.Equal(5_000, report.Requests);
        Assert.True(report.Errors == 0, report.FormatSummary());
        Assert.Equal(1_000, report.AnsweredConnections);
    }

    [Fact]
    public async Task A_task_that_returns_something_else_is_a_mismatch()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with { Task = "sha256", Connections = 2, Requests = 300 });
        Assert.Equal(300, report.Requests);
        AssertOnly(report, ErrorKind.Mismatch, 300);
        Assert.StartsWith("RESULT answered $64 ", report.FirstError);
    }

    [Fact]
    public async Task A_task_that_fails_is_an_error_reply()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with { Task = "fail", Connections = 2, Requests = 300 });
        AssertOnly(report, ErrorKind.ErrorReply, 300);
        Assert.StartsWith("RESULT answered -FAILED", report.FirstError);
    }

    [Fact]
    public async Task A_task_nobody_runs_is_pending_once_the_result_timeout_passes()
    {
        // Its own server: the queued tasks of a name no worker knows stay behind.
        await using var alone = new EventLoopServer(new ServerOptions { Port = 0, LoggerFactory = NullLoggerFactory.Instance });
        alone.Start();
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(alone.Port) with
        {
            Task = "no-such-task", Connections = 3, Pipeline = 2, Requests = 12, ResultTimeout = TimeSpan.FromMilliseconds(50),
        });
        Assert.Equal(12, report.Requests);
        AssertOnly(report, ErrorKind.Pending, 12);
        Assert.Equal("RESULT answered -PENDING queued", report.FirstError);
        Assert.True(report.Latency.P50 >= 45_000, $"p50 {report.Latency.P50} µs: RESULT should have waited its TIMEOUT");
    }

    [Fact]
    public async Task A_result_that_belongs_to_another_task_is_a_mismatch()
    {
        // Same length, same shape, same filler: only the tag that opens each payload tells them apart.
        await using var fake = new FaultyRespServer(new ServerFaults { AnswerPreviousTask = true });
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(fake.Port) with { Connections = 1, Pipeline = 4, Requests = 200 });
        Assert.Equal(200, report.Requests);
        Assert.Equal(1, report.ErrorsByKind[ErrorKind.Nil]); // task 1 has no previous task
        Assert.Equal(199, report.ErrorsByKind[ErrorKind.Mismatch]);
        Assert.Equal(200, report.Errors);
    }

    [Fact]
    public async Task A_fake_queue_that_keeps_results_passes_and_one_that_forgets_them_answers_nil()
    {
        await using var keeps = new FaultyRespServer();
        LoadReport kept = await LoadRunner.RunAsync(Lifecycles(keeps.Port) with { Connections = 2, Pipeline = 3, Requests = 300 });
        Assert.True(kept.Errors == 0, kept.FormatSummary());
        await using var forgets = new FaultyRespServer(new ServerFaults { ForgetTasks = true });
        LoadReport forgot = await LoadRunner.RunAsync(Lifecycles(forgets.Port) with { Connections = 2, Requests = 300 });
        AssertOnly(forgot, ErrorKind.Nil, 300);
        Assert.Equal("RESULT answered $-1", forgot.FirstError);
    }

    [Fact]
    public async Task A_submit_answered_with_an_error_ends_the_lifecycle_as_an_error_reply()
    {
        await using var fake = new FaultyRespServer(new ServerFaults { ErrorEvery = 1 });
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(fake.Port) with { Connections = 2, Requests = 100 });
        AssertOnly(report, ErrorKind.ErrorReply, 100);
        Assert.Equal("SUBMIT answered -ERR injected fault", report.FirstError);
    }

    [Fact]
    public async Task The_json_and_the_summary_say_lifecycles_and_tasks_per_second()
    {
        LoadReport report = await LoadRunner.RunAsync(Lifecycles(server.Port) with
        {
            Connections = 4, Rate = 1000, Duration = TimeSpan.FromSeconds(0.3), PayloadBytes = 32, ResultTimeout = TimeSpan.FromSeconds(2),
        });
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        JsonElement root = json.RootElement;
        Assert.Equal("lifecycles", root.GetProperty("measured").GetString());
        Assert.Equal(report.Requests, root.GetProperty("lifecycles").GetInt64());
        Assert.Equal(report.ThroughputRps, root.GetProperty("throughput_tps").GetDouble(), tolerance: 0.05);
        Assert.False(root.TryGetProperty("requests", out _));
        Assert.False(root.TryGetProperty("throughput_rps", out _));
        Assert.Equal("echo", root.GetProperty("task").GetString());
        Assert.Equal(32, root.GetProperty("payload_bytes").GetInt32());
        Assert.Equal(2000, root.GetProperty("result_timeout_ms").GetDouble());
        Assert.Equal("open", root.GetProperty("mode").GetString());
        Assert.Equal(report.Latency.P99, root.GetProperty("latency_us").GetProperty("p99").GetInt64());
        Assert.True(root.TryGetProperty("latency_uncorrected_us", out _));
        foreach (string kind in new[] { "mismatch", "pending", "nil", "error_reply" })
            Assert.Equal(0, root.GetProperty("errors_by_kind").GetProperty(kind).GetInt64());
        string summary = report.FormatSummary();
        Assert.Contains("open loop at 1,000 lifecycles/s", summary);
        Assert.Contains("lifecycle    SUBMIT echo ARGS <32-byte payload>, then RESULT <id> TIMEOUT 2000", summary);
        Assert.Matches(@"lifecycles   [0-9,]+ in [0-9.]+ s = [0-9,]+ tasks/s", summary);
    }

    [Fact]
    public void Request_runs_say_requests_in_the_json()
    {
        var report = new LoadReport
        {
            Options = new LoadOptions(), Target = "127.0.0.1:7379", RequestBytes = 14, Outcome = LoadOutcome.Completed,
            FirstError = null, Requests = 1, ErrorsByKind = ErrorKinds.All.ToDictionary(k => k, _ => 0L), DurationSeconds = 1,
            Latency = LatencySummary.Empty, LatencyUncorrected = null, ConnectTime = LatencySummary.Empty, Connects = 1,
            AnsweredConnections = 1, PeakOpenConnections = 1, GeneratorAllocatedBytes = 0,
            Generator = new GeneratorUsage(CpuSeconds: 1, WallSeconds: 1, PeakRssBytes: 40 << 20, BusiestThread: 0.1),
        };
        using JsonDocument json = JsonDocument.Parse(report.ToJson());
        Assert.Equal("requests", json.RootElement.GetProperty("measured").GetString());
        Assert.Equal("PING", json.RootElement.GetProperty("command").GetString());
        Assert.False(json.RootElement.TryGetProperty("lifecycles", out _));
    }

    [Fact]
    public void The_lifecycle_options_parse_and_a_result_timeout_past_the_reply_timeout_is_refused()
    {
        LoadOptions options = LoadArguments.Parse(["--lifecycle", "--task", "sha256", "--result-timeout", "250ms", "--payload-bytes", "1k"],
            out _, out string? error)!;
        Assert.Null(error);
        Assert.True(options.Lifecycle);
        Assert.Equal("sha256", options.Task);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.ResultTimeout);
        Assert.Equal(1024, options.PayloadBytes);
        Assert.False(LoadArguments.Parse([], out _, out _)!.Lifecycle);
        Assert.Null(LoadArguments.Parse(["--lifecycle", "--result-timeout", "10s", "--timeout", "10s"], out _, out error));
        Assert.Contains("--result-timeout", error);
        Assert.Null(LoadArguments.Parse(["--lifecycle", "--task", "two words"], out _, out error));
        Assert.Contains("--task", error);
    }

    [Fact]
    public async Task Buffers_that_would_not_fit_are_refused_before_connecting() =>
        Assert.Contains("--lifecycle buffers", (await Assert.ThrowsAsync<LoadSetupException>(() => LoadRunner.RunAsync(
            Lifecycles(server.Port) with { Connections = 10_000, Pipeline = 16, PayloadBytes = 64 * 1024 }))).Message);
}
