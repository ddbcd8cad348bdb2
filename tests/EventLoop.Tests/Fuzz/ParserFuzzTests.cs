using System.Text;
using CsCheck;
using EventLoop.Protocol;
using Xunit.Abstractions;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// Properties of the RESP2 request parser over generated, mutated and corpus input, each run for its share of
/// <see cref="FuzzBudget"/>: the contract of every call, termination, round trips, split invariance and
/// allocation bounded by the bytes present rather than by what headers announce.
/// </summary>
public sealed class ParserFuzzTests(ITestOutputHelper output)
{
    private const double PropertyShare = 0.12;

    /// <summary>Default limits, limits small enough that generated input crosses them, and the largest allowed.</summary>
    private static readonly ProtocolLimits[] LimitSets =
    [
        new(),
        new() { MaxArgs = 4, MaxArgBytes = 32, MaxInlineBytes = 48 },
        new() { MaxArgs = int.MaxValue, MaxArgBytes = int.MaxValue, MaxInlineBytes = int.MaxValue - 1 },
    ];

    private static readonly Gen<ProtocolLimits> Limits = Gen.OneOf(LimitSets);

    static ParserFuzzTests() => WarmUp();

    [Fact]
    public void Fuzzed_input_keeps_the_parse_contract_and_draining_it_terminates() =>
        Property(nameof(Fuzzed_input_keeps_the_parse_contract_and_draining_it_terminates),
            Gen.Select(RespMutations.Fuzzed, Limits), input =>
            {
                (byte[] data, ProtocolLimits limits) = input;
                var probe = new ParserProbe(limits);
                ParseTrace trace = ParseTrace.Whole(probe, data);
                // A request parses the same from exactly its own bytes: the parser never looked past it.
                int start = 0;
                for (int i = 0; i < trace.Commands.Count; i++)
                {
                    int length = trace.RequestLengths[i];
                    ParseTrace alone = ParseTrace.Whole(probe, data.AsSpan(start, length));
                    Assert.Equal(ParseStatus.Complete, alone.End);
                    FuzzText.AssertSameCommands([trace.Commands[i]], alone.Commands);
                    start += length;
                }
            });

    [Fact]
    public void Encoded_pipelines_parse_to_exactly_their_arguments() =>
        Property(nameof(Encoded_pipelines_parse_to_exactly_their_arguments), RespGenerators.Pipeline, pipeline =>
        {
            ParseTrace trace = ParseTrace.Whole(new ParserProbe(new ProtocolLimits()), pipeline.Bytes);

            Assert.Equal(ParseStatus.Complete, trace.End);
            FuzzText.AssertSameCommands([.. pipeline.Requests.Select(r => r.Args)], trace.Commands);
            Assert.True(pipeline.Requests.Select(r => r.Bytes.Length).SequenceEqual(trace.RequestLengths), "a request consumed more or less than its bytes");
        }, print: pipeline => FuzzText.Escape(pipeline.Bytes));

    [Fact]
    public void Valid_pipelines_cut_anywhere_parse_like_the_whole() =>
        Property(nameof(Valid_pipelines_cut_anywhere_parse_like_the_whole),
            RespGenerators.Pipeline.SelectMany(pipeline => Cuts(pipeline.Bytes.Length).Select(cuts => (pipeline, cuts))), input =>
            {
                (WirePipeline pipeline, int[] cuts) = input;
                ParseTrace chunked = ParseTrace.Chunked(new ParserProbe(new ProtocolLimits()), pipeline.Bytes, cuts);

                Assert.Equal(ParseStatus.Complete, chunked.End);
                FuzzText.AssertSameCommands([.. pipeline.Requests.Select(r => r.Args)], chunked.Commands);
            }, print: input => $"{FuzzText.Escape(input.pipeline.Bytes)} cut at [{string.Join(", ", input.cuts)}]");

    [Fact]
    public void Fuzzed_input_cut_anywhere_parses_like_the_whole() =>
        Property(nameof(Fuzzed_input_cut_anywhere_parses_like_the_whole),
            Gen.Select(RespMutations.Fuzzed, Limits).SelectMany((data, limits) => Cuts(data.Length).Select(cuts => (data, limits, cuts))),
            input =>
            {
                (byte[] data, ProtocolLimits limits, int[] cuts) = input;
                ParseTrace whole = ParseTrace.Whole(new ParserProbe(limits), data);
                ParseTrace chunked = ParseTrace.Chunked(new ParserProbe(limits), data, cuts);
                AssertSameOutcome(whole, chunked);
            }, print: input => $"{FuzzText.Escape(input.data)} with {input.limits} cut at [{string.Join(", ", input.cuts)}]");

    [Fact]
    public void Parsing_fuzzed_input_allocates_only_for_the_bytes_present() =>
        Property(nameof(Parsing_fuzzed_input_allocates_only_for_the_bytes_present),
            Gen.Select(RespMutations.Fuzzed, Limits), input =>
            {
                (byte[] data, ProtocolLimits limits) = input;
                var probe = new ParserProbe(limits);
                ParseTrace.Whole(probe, data);
                Assert.InRange(probe.AllocatedBytes, 0, AllocationBound(data.Length));
            });

    [Fact]
    public void Allocation_probe_sees_the_argument_array_grow_with_the_arguments_present()
    {
        byte[] request = RespGenerators.EncodeMultibulk([.. Enumerable.Range(0, 1000).Select(_ => "x"u8.ToArray())]);
        var probe = new ParserProbe(new ProtocolLimits());

        Assert.Equal(ParseStatus.Complete, probe.Parse(request, out RespCommand command, out _));
        Assert.Equal(1000, command.Count);
        // Room for 1000 offsets of at least two ints each: the probe measures what the parser really allocates.
        Assert.InRange(probe.AllocatedBytes, 1000 * 8, AllocationBound(request.Length));
    }

    [Theory]
    [InlineData("*1\r\n$1073741824\r\nabc", 4 + 13 + (1 << 30) + 2)]
    [InlineData("*2\r\n$4\r\nECHO\r\n$1073741824\r\n", 14 + 13 + (1 << 30) + 2)]
    [InlineData("*1073741824\r\n$4\r\nPING\r\n", int.MaxValue)]
    [InlineData("*1073741824\r\n", int.MaxValue)]
    public void A_header_announcing_a_gibibyte_allocates_nothing_and_only_asks_for_more(string request, int expectedMinimum)
    {
        var probe = new ParserProbe(LimitSets[2]);
        ParseStatus status = probe.Parse(Encoding.Latin1.GetBytes(request), out _, out _);

        Assert.Equal(ParseStatus.Incomplete, status);
        Assert.Equal(expectedMinimum, probe.Parser.MinimumBytes);
        Assert.Equal(0, probe.AllocatedBytes);
    }

    public static TheoryData<string> CorpusEntries => new(FuzzCorpus.Entries.Keys);

    [Theory]
    [MemberData(nameof(CorpusEntries))]
    public void Corpus_entry_keeps_every_property_under_every_limit_set(string name)
    {
        byte[] data = FuzzCorpus.Entries[name];
        foreach (ProtocolLimits limits in LimitSets)
        {
            var probe = new ParserProbe(limits);
            ParseTrace whole = ParseTrace.Whole(probe, data);
            Assert.InRange(probe.AllocatedBytes, 0, AllocationBound(data.Length));
            AssertSameOutcome(whole, ParseTrace.Chunked(new ParserProbe(limits), data, Enumerable.Range(1, data.Length)));
        }
    }

    [Fact]
    public void Corpus_is_copied_beside_the_tests_and_holds_every_kind_of_seed()
    {
        string[] names = [.. FuzzCorpus.Entries.Keys];

        Assert.True(names.Length >= 40, $"only {names.Length} corpus entries");
        foreach (string kind in new[] { "multibulk-", "inline-", "pipeline-", "error-", "incomplete-" })
            Assert.Contains(names, name => name.StartsWith(kind, StringComparison.Ordinal));
    }

    /// <summary>
    /// 64 B for each argument the bytes could hold (one per two bytes at most), plus the inline scratch (at most
    /// four times the bytes, counting its growth), plus 4 KiB for one-off error strings: nothing a header announces.
    /// </summary>
    private static long AllocationBound(int length) => 4096 + 64L * (length / 2 + 1) + 4L * length;

    /// <summary>
    /// Cut or whole, the same requests come out. A refusal is the same refusal, except that cut input may end
    /// while still waiting for the bytes the parser's hint asked for, where the whole input already shows the error.
    /// </summary>
    private static void AssertSameOutcome(ParseTrace whole, ParseTrace chunked)
    {
        FuzzText.AssertSameCommands(whole.Commands, chunked.Commands);
        if (whole.End == ParseStatus.Error && chunked.EndedWaitingForHint)
            return;
        Assert.Equal(whole.End, chunked.End);
        Assert.Equal(whole.Error, chunked.Error);
    }

    /// <summary>Where the data is cut: a few random places, or after every byte when that stays cheap.</summary>
    private static Gen<int[]> Cuts(int length) => length <= 512
        ? Gen.Frequency<int[]>((4, Gen.Int[0, length].Array[0, 8]), (1, Gen.Const(Enumerable.Range(1, length).ToArray())))
        : Gen.Int[0, length].Array[0, 8];

    private void Property<T>(string name, Gen<T> gen, Action<T> property, Func<T, string>? print = null)
    {
        int seconds = FuzzBudget.Seconds(PropertyShare);
        FuzzBudget.Run(output, name, seconds, () =>
        {
            long executions = 0;
            gen.Sample(input =>
            {
                property(input);
                Interlocked.Increment(ref executions);
            }, time: seconds, print: print ?? (input => input is ValueTuple<byte[], ProtocolLimits> t ? $"{FuzzText.Escape(t.Item1)} with {t.Item2}" : Check.Print(input)));
            return executions;
        });
    }

    /// <summary>Runs every parser path once, so first-use costs (static data, cached messages) are not counted as allocations.</summary>
    private static void WarmUp()
    {
        foreach (byte[] seed in FuzzCorpus.Seeds)
        {
            foreach (ProtocolLimits limits in LimitSets)
                ParseTrace.Whole(new ParserProbe(limits), seed);
        }
    }
}
