using System.Text;
using EventLoop.Protocol;

namespace EventLoop.Tests.Protocol;

public class RespRequestParserTests
{
    private const string BigBulkHeader = "*3\r\n$4\r\nECHO\r\n$1048576\r\n";

    private readonly RespRequestParser _parser = new(new ProtocolLimits());

    /// <summary>Requests, by name, with the arguments they must decode to.</summary>
    private static readonly Dictionary<string, (string Request, string[] Args)> Requests = new()
    {
        ["ping"] = ("*1\r\n$4\r\nPING\r\n", ["PING"]),
        ["echo-binary"] = ("*2\r\n$4\r\nECHO\r\n$8\r\na\r\nb\0\xff\r\n\r\n", ["ECHO", "a\r\nb\0\xff\r\n"]),
        ["run-5-args"] = ("*5\r\n$3\r\nRUN\r\n$5\r\nsleep\r\n$3\r\n100\r\n$1\r\nx\r\n$10\r\n0123456789\r\n",
            ["RUN", "sleep", "100", "x", "0123456789"]),
        ["empty-bulk"] = ("*3\r\n$3\r\nRUN\r\n$4\r\necho\r\n$0\r\n\r\n", ["RUN", "echo", ""]),
        ["inline-ping"] = ("PING\r\n", ["PING"]),
        ["inline-quoted"] = ("RUN echo \"a b\\\"c\\\\\\n\\x41\" 'it\\'s' plain\r\n",
            ["RUN", "echo", "a b\"c\\\nA", "it's", "plain"]),
    };

    public static TheoryData<string> RequestNames => new(Requests.Keys);

    [Theory]
    [MemberData(nameof(RequestNames))]
    public void EveryStrictPrefixIsIncompleteWithASoundMinimum(string name)
    {
        byte[] request = Bytes(Requests[name].Request);
        for (int length = 0; length < request.Length; length++)
        {
            ParseStatus status = _parser.TryParse(request.AsSpan(0, length), out _, out int consumed);

            Assert.Equal(ParseStatus.Incomplete, status);
            Assert.Equal(0, consumed);
            Assert.InRange(_parser.MinimumBytes, length + 1, request.Length);
        }
    }

    [Theory]
    [MemberData(nameof(RequestNames))]
    public void WholeRequestIsCompleteAndConsumesExactlyItsBytes(string name)
    {
        (string text, string[] expected) = Requests[name];
        byte[] buffer = Bytes(text + "*1\r\n$4\r\nNEXT\r\n");

        ParseStatus status = _parser.TryParse(buffer, out RespCommand command, out int consumed);

        Assert.Equal(ParseStatus.Complete, status);
        Assert.Equal(Bytes(text).Length, consumed);
        Assert.Equal(expected, Args(command));
    }

    [Fact]
    public void PipelineOfMixedCommandsIsParsedInOrder()
    {
        (byte[] buffer, List<string[]> expected) = BuildPipeline(100, seed: 42);

        List<string[]> parsed = [];
        int offset = 0;
        while (offset < buffer.Length)
        {
            Assert.Equal(ParseStatus.Complete, _parser.TryParse(buffer.AsSpan(offset), out RespCommand command, out int consumed));
            parsed.Add(Args(command));
            offset += consumed;
        }

        Assert.Equal(expected, parsed);
    }

    [Fact]
    public void SteadyStateParsingAllocatesNothing()
    {
        (byte[] buffer, _) = BuildPipeline(1000, seed: 7);
        ParseAll(buffer);

        long before = GC.GetAllocatedBytesForCurrentThread();
        int commands = ParseAll(buffer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(1000, commands);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("PING\n", new[] { "PING" })]
    [InlineData("  PING \t ECHO  \r\n", new[] { "PING", "ECHO" })]
    [InlineData("ECHO \"hello world\"\n", new[] { "ECHO", "hello world" })]
    [InlineData("ECHO \"\" ''\n", new[] { "ECHO", "", "" })]
    [InlineData("ECHO \"\\\"\\\\\\n\\r\\t\\b\\a\"\n", new[] { "ECHO", "\"\\\n\r\t\b\a" })]
    [InlineData("ECHO \"\\x41\\x4a\\xff\\x00\"\n", new[] { "ECHO", "AJ\xff\0" })]
    [InlineData("ECHO \"\\xZZ\\x4\\q\"\n", new[] { "ECHO", "xZZx4q" })]
    [InlineData("ECHO 'it\\'s \\n \"x\"'\n", new[] { "ECHO", "it's \\n \"x\"" })]
    [InlineData("ECHO a\"b c\" d'e f'\n", new[] { "ECHO", "ab c", "de f" })]
    [InlineData("SET \"k\"\tv \"z\"\r\n", new[] { "SET", "k", "v", "z" })]
    public void InlineArgumentsAreSplitAndUnescapedLikeRedis(string line, string[] expected)
    {
        Assert.Equal(ParseStatus.Complete, _parser.TryParse(Bytes(line), out RespCommand command, out int consumed));
        Assert.Equal(Bytes(line).Length, consumed);
        Assert.Equal(expected, Args(command));
    }

    [Theory]
    [InlineData("\r\n")]
    [InlineData("\n")]
    [InlineData("   \n")]
    [InlineData(" \t \r\n")]
    [InlineData("*0\r\n")]
    [InlineData("*-1\r\n")]
    [InlineData("*-2\r\n")]
    [InlineData("*-10\r\n")]
    [InlineData("*-1048577\r\n")]
    [InlineData("*-9223372036854775807\r\n")]
    [InlineData("*-9223372036854775808\r\n")]
    public void EmptyRequestIsCompleteWithNoArgumentsAndIsConsumed(string request)
    {
        ParseStatus status = _parser.TryParse(Bytes(request + "PING\r\n"), out RespCommand command, out int consumed);

        Assert.Equal(ParseStatus.Complete, status);
        Assert.Equal(0, command.Count);
        Assert.Equal(request.Length, consumed);
    }

    [Theory]
    [InlineData("*abc\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-0\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-01\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-00\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*--1\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-1 \r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-9223372036854775809\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-10000000000000000000\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-99999999999999999999\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*-\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*+1\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("* 1\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1 \r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*01\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1\rx", "Protocol error: invalid multibulk length")]
    [InlineData("*1\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1048577\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*99999999999999999999\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'")]
    [InlineData("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "Protocol error: expected '$', got 'f'")]
    [InlineData("*2\r\n$4\r\nPING\r\n*1\r\n", "Protocol error: expected '$', got '*'")]
    [InlineData("*1\r\n$-1\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$abc\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$+4\r\nPING\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$ 4\r\nPING\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$04\r\nPING\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$4\rPING\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$16777217\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$4\r\nPINGxx", "Protocol error: expected CRLF after bulk string")]
    [InlineData("*1\r\n$4\r\nPING\n\r", "Protocol error: expected CRLF after bulk string")]
    [InlineData("*1\r\n$4\r\nPINGG\r\n", "Protocol error: expected CRLF after bulk string")]
    [InlineData("ECHO \"abc\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO 'abc\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO \"abc\"def\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO 'abc'def\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO \"abc\\\"\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO \"abc\\\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO 'abc\\'\n", "Protocol error: unbalanced quotes in request")]
    [InlineData("ECHO a\\\"b\n", "Protocol error: unbalanced quotes in request")]
    public void MalformedRequestIsAnErrorWithRedisMessage(string request, string message) =>
        AssertError(request, message);

    [Fact]
    public void OverlongHeaderIsAnErrorWithoutWaitingForItsCrlf()
    {
        AssertError("*" + new string('1', 40), "Protocol error: invalid multibulk length");
        AssertError("*1\r\n$" + new string('9', 40), "Protocol error: invalid bulk length");
        AssertError("*1\r\n$12x", "Protocol error: invalid bulk length");
    }

    [Theory]
    [InlineData("*1\r\n$2147483647\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$2147483647", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$99999999999999999999\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*2000000\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*2000000", "Protocol error: invalid multibulk length")]
    public void OversizeHeaderIsRefusedAtOnceWithoutAllocating(string request, string message)
    {
        byte[] buffer = Bytes(request);
        _parser.TryParse(buffer, out _, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        ParseStatus status = _parser.TryParse(buffer, out _, out int consumed);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(ParseStatus.Error, status);
        Assert.Equal(message, _parser.ErrorMessage);
        Assert.Equal(0, consumed);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("*1\r\n$16777216\r\n", 4 + 11 + 16777216 + 2)]
    [InlineData("*1048576\r\n", 10 + 6 * 1048576)]
    [InlineData("*1048576\r\n$4\r\nPING\r\n", 20 + 6 * 1048575)]
    public void AnnouncedSizeIsAWaitHintNeverAnAllocation(string request, int expectedMinimum)
    {
        byte[] buffer = Bytes(request);
        _parser.TryParse(buffer, out _, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        ParseStatus status = _parser.TryParse(buffer, out _, out _);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(ParseStatus.Incomplete, status);
        Assert.Equal(expectedMinimum, _parser.MinimumBytes);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void MinimumBytesForAOneMebibyteBulkIsTheWholeFrame()
    {
        byte[] frame = Bytes("*2\r\n$4\r\nECHO\r\n$1048576\r\n" + new string('x', 1 << 20) + "\r\n");

        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(frame.AsSpan(0, 100), out _, out _));
        Assert.Equal(frame.Length, _parser.MinimumBytes);

        Assert.Equal(ParseStatus.Complete, _parser.TryParse(frame, out RespCommand command, out int consumed));
        Assert.Equal(frame.Length, consumed);
        Assert.Equal(1 << 20, command[1].Length);
    }

    [Fact]
    public void MinimumBytesCountsAtLeastSixBytesPerArgumentStillToCome()
    {
        byte[] frame = Bytes(BigBulkHeader + new string('x', 1 << 20) + "\r\n$1\r\nx\r\n");
        int bigBulkEnd = BigBulkHeader.Length + (1 << 20) + 2;

        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(frame.AsSpan(0, 100), out _, out _));

        Assert.Equal(bigBulkEnd + 6, _parser.MinimumBytes);
    }

    [Fact]
    public void InlineLineLongerThanTheLimitIsAnError()
    {
        var parser = new RespRequestParser(new ProtocolLimits { MaxInlineBytes = 16 });
        string atLimit = "ECHO " + new string('a', 11);

        Assert.Equal(ParseStatus.Incomplete, parser.TryParse(Bytes(atLimit), out _, out _));
        Assert.Equal(ParseStatus.Complete, parser.TryParse(Bytes(atLimit + "\n"), out _, out _));
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes(atLimit + "a"), out _, out _));
        Assert.Equal("Protocol error: too big inline request", parser.ErrorMessage);
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes(atLimit + "a\n"), out _, out _));
    }

    [Fact]
    public void DefaultInlineLimitIs64KiB()
    {
        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(new byte[64 * 1024].AsSpan(), out _, out _));
        AssertError(new string('a', 64 * 1024 + 1), "Protocol error: too big inline request");
    }

    [Fact]
    public void ConfiguredArgumentLimitsAreEnforced()
    {
        var parser = new RespRequestParser(new ProtocolLimits { MaxArgs = 3, MaxArgBytes = 10 });

        Assert.Equal(ParseStatus.Incomplete, parser.TryParse(Bytes("*3\r\n$10\r\n"), out _, out _));
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes("*4\r\n"), out _, out _));
        Assert.Equal("Protocol error: invalid multibulk length", parser.ErrorMessage);
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes("*3\r\n$11\r\n"), out _, out _));
        Assert.Equal("Protocol error: invalid bulk length", parser.ErrorMessage);
    }

    [Fact]
    public void NegativeCountIsRefusedAtOnceWhenItOverflows() =>
        AssertError("*-9223372036854775809", "Protocol error: invalid multibulk length");

    [Theory]
    [InlineData("*11\r\n", "Protocol error: unauthenticated multibulk length")]
    [InlineData("*1048576\r\n", "Protocol error: unauthenticated multibulk length")]
    [InlineData("*2\r\n$4\r\nECHO\r\n$16385\r\n", "Protocol error: unauthenticated bulk length")]
    [InlineData("*2\r\n$4\r\nECHO\r\n$2097152\r\n", "Protocol error: unauthenticated bulk length")]
    [InlineData("*1048577\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1\r\n$16777217\r\n", "Protocol error: invalid bulk length")]
    public void BeforeAuthALongMultibulkOrALargeBulkIsRefusedAtItsHeader(string request, string message)
    {
        byte[] buffer = Bytes(request);
        _parser.TryParse(buffer, authenticated: false, out _, out _);

        long before = GC.GetAllocatedBytesForCurrentThread();
        ParseStatus status = _parser.TryParse(buffer, authenticated: false, out _, out int consumed);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(ParseStatus.Error, status);
        Assert.Equal(message, _parser.ErrorMessage);
        Assert.Equal(0, consumed);
        Assert.Equal(0, allocated);
        if (message.Contains("unauthenticated"))
            Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(buffer, authenticated: true, out _, out _)); // within the normal limits
    }

    [Fact]
    public void BeforeAuthRequestsAtTheLimitsAreParsed()
    {
        string atLimits = "*10\r\n$16384\r\n" + new string('x', 16384) + "\r\n" + string.Concat(Enumerable.Repeat("$1\r\ny\r\n", 9));
        Assert.Equal(ParseStatus.Complete, _parser.TryParse(Bytes(atLimits), authenticated: false, out RespCommand command, out _));
        Assert.Equal(10, command.Count);

        string inline = "ECHO " + new string('x', 16384 - 5);
        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(Bytes(inline), authenticated: false, out _, out _));
        Assert.Equal(ParseStatus.Complete, _parser.TryParse(Bytes(inline + "\n"), authenticated: false, out _, out _));
        Assert.Equal(ParseStatus.Error, _parser.TryParse(Bytes(inline + "x"), authenticated: false, out _, out _));
        Assert.Equal("Protocol error: too big inline request", _parser.ErrorMessage);
        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse(Bytes(inline + "x"), authenticated: true, out _, out _));
    }

    [Fact]
    public void ConfiguredUnauthenticatedLimitsAreEnforced()
    {
        var parser = new RespRequestParser(new ProtocolLimits { MaxUnauthenticatedArgs = 2, MaxUnauthenticatedBulkBytes = 4 });

        Assert.Equal(ParseStatus.Complete, parser.TryParse(Bytes("*2\r\n$4\r\nAUTH\r\n$4\r\npass\r\n"), authenticated: false, out _, out _));
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes("*3\r\n"), authenticated: false, out _, out _));
        Assert.Equal("Protocol error: unauthenticated multibulk length", parser.ErrorMessage);
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes("*2\r\n$4\r\nAUTH\r\n$5\r\n"), authenticated: false, out _, out _));
        Assert.Equal("Protocol error: unauthenticated bulk length", parser.ErrorMessage);
        Assert.Equal(ParseStatus.Error, parser.TryParse(Bytes("AUTH x\r\n"), authenticated: false, out _, out _));
        Assert.Equal("Protocol error: too big inline request", parser.ErrorMessage);
    }

    [Fact]
    public void InvalidLimitsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RespRequestParser(new ProtocolLimits { MaxUnauthenticatedArgs = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RespRequestParser(new ProtocolLimits { MaxUnauthenticatedBulkBytes = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RespRequestParser(new ProtocolLimits { MaxArgs = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RespRequestParser(new ProtocolLimits { MaxArgBytes = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RespRequestParser(new ProtocolLimits { MaxInlineBytes = 0 }));
    }

    [Fact]
    public void IsComparesIgnoringAsciiCaseAndIsFalseBeyondTheArguments()
    {
        Assert.Equal(ParseStatus.Complete, _parser.TryParse("pInG \"echo\"\r\n"u8, out RespCommand command, out _));

        Assert.True(command.Is(0, "PING"u8));
        Assert.True(command.Is(1, "ECHO"u8));
        Assert.False(command.Is(0, "PIN"u8));
        Assert.False(command.Is(0, "PINGS"u8));
        Assert.False(command.Is(2, "PING"u8));
        Assert.False(command.Is(-1, "PING"u8));
    }

    [Fact]
    public void IndexBeyondTheArgumentsThrows() =>
        Assert.Throws<IndexOutOfRangeException>(() =>
        {
            _parser.TryParse("*1\r\n$4\r\nPING\r\n"u8, out RespCommand command, out _);
            return command[1].Length;
        });

    [Fact]
    public void ErrorAndHintAreClearedByTheNextParse()
    {
        _parser.TryParse("*x\r\n"u8, out _, out _);
        Assert.NotNull(_parser.ErrorMessage);

        Assert.Equal(ParseStatus.Incomplete, _parser.TryParse("*1\r\n"u8, out _, out _));
        Assert.Null(_parser.ErrorMessage);

        Assert.Equal(ParseStatus.Complete, _parser.TryParse("PING\n"u8, out _, out _));
        Assert.Equal(0, _parser.MinimumBytes);
    }

    private void AssertError(string request, string message)
    {
        ParseStatus status = _parser.TryParse(Bytes(request), out _, out int consumed);

        Assert.Equal(ParseStatus.Error, status);
        Assert.Equal(message, _parser.ErrorMessage);
        Assert.Equal(0, consumed);
    }

    private int ParseAll(ReadOnlySpan<byte> buffer)
    {
        int commands = 0;
        while (!buffer.IsEmpty && _parser.TryParse(buffer, out RespCommand command, out int consumed) == ParseStatus.Complete)
        {
            commands += command.Count > 0 ? 1 : 0;
            buffer = buffer[consumed..];
        }

        return commands;
    }

    /// <summary>Random multibulk and inline requests (quoted inline args included) and their expected arguments.</summary>
    private static (byte[] Buffer, List<string[]> Expected) BuildPipeline(int count, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        var expected = new List<string[]>();
        for (int i = 0; i < count; i++)
        {
            string[] args = new string[random.Next(1, 6)];
            if (random.Next(2) == 0)
            {
                AppendRandomInline(text, args, random);
            }
            else
            {
                AppendRandomMultibulk(text, args, random);
            }

            expected.Add(args);
        }

        return (Bytes(text.ToString()), expected);
    }

    private static void AppendRandomMultibulk(StringBuilder text, string[] args, Random random)
    {
        text.Append('*').Append(args.Length).Append("\r\n");
        for (int a = 0; a < args.Length; a++)
        {
            args[a] = RandomBinary(random);
            text.Append('$').Append(args[a].Length).Append("\r\n").Append(args[a]).Append("\r\n");
        }
    }

    /// <summary>Fills <paramref name="args"/> with words; one in three is quoted and holds a blank, a quote and a backslash.</summary>
    private static void AppendRandomInline(StringBuilder text, string[] args, Random random)
    {
        for (int a = 0; a < args.Length; a++)
        {
            bool quoted = random.Next(3) == 0;
            args[a] = quoted ? RandomWord(random) + " \"\\" + RandomWord(random) : RandomWord(random);
            text.Append(quoted ? "\"" + args[a].Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"" : args[a]).Append(' ');
        }

        text.Append(random.Next(2) == 0 ? "\r\n" : "\n");
    }

    private static string RandomWord(Random random) =>
        new(Enumerable.Range(0, random.Next(1, 12)).Select(_ => (char)random.Next('a', 'z' + 1)).ToArray());

    private static string RandomBinary(Random random) =>
        new(Enumerable.Range(0, random.Next(0, 24)).Select(_ => (char)random.Next(0, 256)).ToArray());

    private static byte[] Bytes(string text) => Encoding.Latin1.GetBytes(text);

    private static string[] Args(RespCommand command)
    {
        string[] args = new string[command.Count];
        for (int i = 0; i < args.Length; i++)
        {
            args[i] = Encoding.Latin1.GetString(command[i]);
        }

        return args;
    }
}
