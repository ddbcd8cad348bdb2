using System.Buffers;
using System.Text;
using EventLoop.Protocol;

namespace EventLoop.Tests.Protocol;

public class RespWriterTests
{
    private readonly ArrayBufferWriter<byte> _writer = new();

    private string Written => Encoding.Latin1.GetString(_writer.WrittenSpan);

    [Fact]
    public void SimpleString()
    {
        RespWriter.WriteSimpleString(_writer, "OK"u8);
        Assert.Equal("+OK\r\n", Written);
    }

    [Fact]
    public void ErrorFromBytesIsWrittenAsIs()
    {
        RespWriter.WriteError(_writer, "ERR unknown command"u8);
        Assert.Equal("-ERR unknown command\r\n", Written);
    }

    [Fact]
    public void ErrorFromStringHasLineBreaksReplacedBySpacesAndIsUtf8()
    {
        RespWriter.WriteError(_writer, "ERR a\r\nb\nc é");
        Assert.Equal("-ERR a  b c \xc3\xa9\r\n", Written);
    }

    [Theory]
    [InlineData(0L, ":0\r\n")]
    [InlineData(42L, ":42\r\n")]
    [InlineData(-1L, ":-1\r\n")]
    [InlineData(long.MaxValue, ":9223372036854775807\r\n")]
    [InlineData(long.MinValue, ":-9223372036854775808\r\n")]
    public void Integer(long value, string expected)
    {
        RespWriter.WriteInteger(_writer, value);
        Assert.Equal(expected, Written);
    }

    [Fact]
    public void BulkStringFromBytesKeepsBinaryPayload()
    {
        RespWriter.WriteBulkString(_writer, "a\r\nb\0"u8);
        Assert.Equal("$5\r\na\r\nb\0\r\n", Written);
    }

    [Fact]
    public void EmptyBulkString()
    {
        RespWriter.WriteBulkString(_writer, ReadOnlySpan<byte>.Empty);
        Assert.Equal("$0\r\n\r\n", Written);
    }

    [Fact]
    public void BulkStringFromStringIsUtf8WithItsByteLength()
    {
        RespWriter.WriteBulkString(_writer, "é!");
        Assert.Equal("$3\r\n\xc3\xa9!\r\n", Written);
    }

    [Fact]
    public void BulkStringHeaderLeavesThePayloadToTheCaller()
    {
        RespWriter.WriteBulkStringHeader(_writer, 5_000_000_000);
        Assert.Equal("$5000000000\r\n", Written);
        Assert.Throws<ArgumentOutOfRangeException>(() => RespWriter.WriteBulkStringHeader(_writer, -1));
    }

    [Fact]
    public void NullBulkString()
    {
        RespWriter.WriteNullBulkString(_writer);
        Assert.Equal("$-1\r\n", Written);
    }

    [Fact]
    public void ArrayHeader()
    {
        RespWriter.WriteArrayHeader(_writer, 3);
        RespWriter.WriteArrayHeader(_writer, 0);
        Assert.Equal("*3\r\n*0\r\n", Written);
        Assert.Throws<ArgumentOutOfRangeException>(() => RespWriter.WriteArrayHeader(_writer, -1));
    }

    [Fact]
    public void NullArray()
    {
        RespWriter.WriteNullArray(_writer);
        Assert.Equal("*-1\r\n", Written);
    }

    [Fact]
    public void RawBytesAreCopiedUnchanged()
    {
        RespWriter.WriteRaw(_writer, "+OK\r\n"u8);
        Assert.Equal("+OK\r\n", Written);
    }

    [Fact]
    public void ArrayOfBulkStringsParsesBackAsARequest()
    {
        RespWriter.WriteArrayHeader(_writer, 3);
        RespWriter.WriteBulkString(_writer, "RUN"u8);
        RespWriter.WriteBulkString(_writer, "echo");
        RespWriter.WriteBulkString(_writer, new byte[100_000]);

        var parser = new RespRequestParser(new ProtocolLimits());
        Assert.Equal(ParseStatus.Complete, parser.TryParse(_writer.WrittenSpan, out RespCommand command, out int consumed));
        Assert.Equal(_writer.WrittenCount, consumed);
        Assert.Equal(3, command.Count);
        Assert.True(command.Is(1, "ECHO"u8));
        Assert.Equal(100_000, command[2].Length);
    }

    [Fact]
    public void EncodersAllocateNothing()
    {
        var writer = new ArrayBufferWriter<byte>(4096);
        WriteOneOfEach(writer);
        writer.ResetWrittenCount();

        long before = GC.GetAllocatedBytesForCurrentThread();
        WriteOneOfEach(writer);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    private static void WriteOneOfEach(IBufferWriter<byte> writer)
    {
        RespWriter.WriteSimpleString(writer, "PONG"u8);
        RespWriter.WriteError(writer, "ERR x"u8);
        RespWriter.WriteError(writer, "ERR from a string\n");
        RespWriter.WriteInteger(writer, long.MinValue);
        RespWriter.WriteBulkString(writer, "payload"u8);
        RespWriter.WriteBulkString(writer, "text");
        RespWriter.WriteBulkStringHeader(writer, 12);
        RespWriter.WriteNullBulkString(writer);
        RespWriter.WriteArrayHeader(writer, 2);
        RespWriter.WriteNullArray(writer);
        RespWriter.WriteRaw(writer, "+OK\r\n"u8);
    }
}
