using System.Text;
using EventLoop.Client;

namespace EventLoop.Tests.Client;

public class RespReplyReaderTests
{
    private const string MixedReplies =
        "+PONG\r\n-ERR bad\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n" +
        "*3\r\n$1\r\na\r\n*2\r\n:1\r\n+x\r\n$0\r\n\r\n$4\r\n\r\n\r\n\r\n";

    private static readonly RespKind[] MixedKinds =
    [
        RespKind.SimpleString, RespKind.Error, RespKind.Integer, RespKind.BulkString, RespKind.Null,
        RespKind.Null, RespKind.Array, RespKind.Array, RespKind.BulkString,
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Finds_every_reply_and_its_kind_whatever_the_chunk_size(int chunkSize)
    {
        byte[] stream = Encoding.ASCII.GetBytes(MixedReplies);
        var reader = new RespReplyReader();
        var kinds = new List<RespKind>();
        var ends = new List<int>();
        for (int offset = 0; offset < stream.Length; offset += chunkSize)
        {
            ReadOnlySpan<byte> chunk = stream.AsSpan(offset, Math.Min(chunkSize, stream.Length - offset));
            int chunkStart = offset;
            while (!chunk.IsEmpty)
            {
                RespReadStatus status = reader.Read(chunk, out int consumed, out RespKind kind);
                Assert.NotEqual(RespReadStatus.Malformed, status);
                chunkStart += consumed;
                chunk = chunk[consumed..];
                if (status == RespReadStatus.Complete)
                {
                    kinds.Add(kind);
                    ends.Add(chunkStart);
                }
            }
        }
        Assert.Equal(MixedKinds, kinds);
        Assert.Equal(stream.Length, ends[^1]);
        Assert.Equal(7, ends[0]); // "+PONG\r\n"
        Assert.False(reader.IsInsideReply);
    }

    [Fact]
    public void Stops_at_the_end_of_one_reply_and_reports_a_partial_one()
    {
        var reader = new RespReplyReader();
        byte[] bytes = Encoding.ASCII.GetBytes("$5\r\nhello\r\n$5\r\nwor");
        Assert.Equal(RespReadStatus.Complete, reader.Read(bytes, out int consumed, out RespKind kind));
        Assert.Equal(11, consumed);
        Assert.Equal(RespKind.BulkString, kind);
        Assert.Equal(RespReadStatus.Incomplete, reader.Read(bytes.AsSpan(consumed), out consumed, out _));
        Assert.Equal(7, consumed);
        Assert.True(reader.IsInsideReply);
        Assert.Equal(RespReadStatus.Complete, reader.Read("ld\r\n"u8, out consumed, out _));
        Assert.Equal(4, consumed);
    }

    [Theory]
    [InlineData("?what\r\n")]
    [InlineData("$abc\r\n")]
    [InlineData("*-2\r\n")]
    [InlineData("$\r\n")]
    [InlineData("$999999999999\r\n")]
    public void Reports_malformed_input(string input)
    {
        var reader = new RespReplyReader();
        Assert.Equal(RespReadStatus.Malformed, reader.Read(Encoding.ASCII.GetBytes(input), out _, out _));
    }
}
