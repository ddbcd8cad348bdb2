using System.Buffers;
using EventLoop.Cli.Load;
using EventLoop.Client;

namespace EventLoop.Tests.Load;

public class LoadArgumentsTests
{
    [Theory]
    [InlineData("10", 10.0)]
    [InlineData("2.5s", 2.5)]
    [InlineData("500ms", 0.5)]
    [InlineData("1m", 60.0)]
    public void Times_take_units(string text, double seconds) =>
        Assert.Equal(seconds, EventLoop.Cli.CommandLine.OptionValues.Time(text).TotalSeconds, 6);

    [Fact]
    public void Options_map_to_their_fields_and_the_rest_keep_defaults()
    {
        LoadOptions options = LoadArguments.Parse(
            ["-c", "1000", "--idle=9000", "-P", "16", "--pipeline-mode", "batch", "--rate", "5000", "-n", "1_000_000", "--json", "out.json"],
            out bool help, out string? error)!;
        Assert.False(help);
        Assert.Null(error);
        Assert.Equal(1000, options.Connections);
        Assert.Equal(9000, options.Idle);
        Assert.Equal(16, options.Pipeline);
        Assert.Equal(PipelineMode.Batch, options.PipelineMode);
        Assert.True(options.IsOpenLoop);
        Assert.Equal(1_000_000, options.Requests);
        Assert.Null(options.EffectiveDuration); // bounded by requests only
        Assert.Equal("out.json", options.JsonPath);
        Assert.Equal("PING", options.Command);
        Assert.Equal(TimeSpan.FromSeconds(1), options.Warmup);
    }

    [Fact]
    public void The_pipeline_is_a_sliding_window_unless_batches_are_asked_for() =>
        Assert.Equal(PipelineMode.Window, LoadArguments.Parse([], out _, out _)!.PipelineMode);

    [Fact]
    public void Without_bounds_a_run_lasts_the_default_duration() =>
        Assert.Equal(LoadOptions.DefaultDuration, new LoadOptions().EffectiveDuration);
}

public class RequestTemplateTests
{
    [Fact]
    public void Placeholders_become_fixed_width_keys_and_a_payload_and_the_request_is_valid_RESP()
    {
        RequestTemplate template = RequestTemplate.Parse("SET 'user {key}' {payload}", payloadBytes: 5, keyspace: 1000);
        Assert.Equal("*3\r\n$3\r\nSET\r\n$8\r\nuser 000\r\n$5\r\nxxxxx\r\n", System.Text.Encoding.ASCII.GetString(template.Bytes));
        Assert.Equal(3, template.KeyWidth);
        var batch = new RequestBatch(template, capacity: 4);
        byte[] requests = batch.Prepare(4).ToArray();
        var keys = new HashSet<string>();
        var reader = new RespReplyReader();
        for (int offset = 0; offset < requests.Length;)
        {
            Assert.Equal(RespReadStatus.Complete, reader.Read(requests.AsSpan(offset), out int consumed, out RespKind kind));
            Assert.Equal(RespKind.Array, kind);
            RespValue request = RespValueParser.Parse(new ReadOnlySequence<byte>(requests, offset, consumed));
            string key = request.Elements[1].Text!;
            Assert.Matches("^user [0-9]{3}$", key);
            keys.Add(key);
            offset += consumed;
        }
        Assert.True(keys.Count > 1, "keys should be random");
    }

    [Fact]
    public void Words_split_on_spaces_outside_quotes() =>
        Assert.Equal(["RUN", "echo", "a b", "c"], RequestTemplate.SplitWords("  RUN echo \"a b\" c "));
}
