using System.Text;
using EventLoop.Client;
using Xunit;

namespace EventLoop.Tests.Client;

/// <summary>The FETCH reply reader on exact bytes: shapes a server could send that the loopback tests cannot provoke.</summary>
public class FetchReplyTests
{
    private static IReadOnlyList<FetchedTask> Parse(string reply) => FetchReply.Parse(Encoding.UTF8.GetBytes(reply), new TaskNames());

    [Fact]
    public void A_reply_is_read_into_tasks_whose_arguments_outlive_the_buffer()
    {
        byte[] reply = Encoding.UTF8.GetBytes("*2\r\n*4\r\n$2\r\n17\r\n:3\r\n$4\r\nmail\r\n*2\r\n$2\r\nab\r\n$-1\r\n*4\r\n$2\r\n18\r\n:1\r\n$4\r\nmail\r\n*0\r\n");
        IReadOnlyList<FetchedTask> tasks = FetchReply.Parse(reply, new TaskNames());
        reply.AsSpan().Clear(); // the receive buffer is reused as soon as the reply is parsed

        Assert.Equal(("17", 3L, "mail"), (tasks[0].Id, tasks[0].Attempt, tasks[0].Task));
        Assert.Equal(["ab", ""], tasks[0].Arguments.Select(a => Encoding.UTF8.GetString(a.Span)));
        Assert.Equal(("18", 1L), (tasks[1].Id, tasks[1].Attempt));
        Assert.Empty(tasks[1].Arguments);
    }

    [Fact]
    public void An_empty_or_null_reply_is_no_tasks_and_an_error_reply_is_thrown()
    {
        Assert.Empty(Parse("*0\r\n"));
        Assert.Empty(Parse("*-1\r\n"));
        Assert.Equal("ERR COUNT must be positive", Assert.Throws<RespErrorException>(() => Parse("-ERR COUNT must be positive\r\n")).Message);
    }

    [Theory]
    [InlineData("+OK\r\n")]                                    // not an array
    [InlineData("*1\r\n*3\r\n$1\r\n1\r\n:1\r\n$1\r\nt\r\n")]   // a task of three fields
    [InlineData("*1\r\n*4\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\nt\r\n*0\r\n")] // the attempt is not an integer
    [InlineData("*1\r\n*4\r\n$1\r\n1\r\n:1\r\n$9\r\nt\r\n*0\r\n")]     // a length past the end
    public void A_reply_not_shaped_like_fetch_is_a_format_error(string reply) =>
        Assert.Throws<FormatException>(() => Parse(reply));

    [Fact]
    public void Settle_replies_map_to_outcomes_and_any_other_error_is_thrown()
    {
        Assert.Equal(DeliveryOutcome.Accepted, EventLoopClient.ParseOutcome("+OK\r\n"u8));
        Assert.Equal(DeliveryOutcome.Stale, EventLoopClient.ParseOutcome("-STALE\r\n"u8));
        Assert.Equal(DeliveryOutcome.Cancelled, EventLoopClient.ParseOutcome("-CANCELLED\r\n"u8));
        Assert.Equal("STALENESS", Assert.Throws<RespErrorException>(() => EventLoopClient.ParseOutcome("-STALENESS\r\n"u8)).Message);
    }

    [Fact]
    public void Task_names_are_shared_until_the_cache_is_full_and_decoded_correctly_after()
    {
        var names = new TaskNames();
        Assert.Same(names.Get("resize"u8), names.Get("resize"u8));
        for (int i = 0; i < 2000; i++)
            Assert.Equal($"task-{i}", names.Get(Encoding.UTF8.GetBytes($"task-{i}")));
        Assert.Equal("task-1999", names.Get("task-1999"u8)); // past the bound: a fresh string, still right
        string longName = new('n', 300);
        Assert.Equal(longName, names.Get(Encoding.UTF8.GetBytes(longName)));
    }
}
