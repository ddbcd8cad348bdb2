using EventLoop.Tests.Server;
using Xunit;

namespace EventLoop.Tests.Queueing;

public class ParkedCountTests
{
    [Fact]
    public async Task Info_counts_parked_connections_apart_from_the_requests_they_pipeline()
    {
        await using var server = new TestServer();
        using RawConnection observer = server.Connect();
        observer.Call("QUEUE", "PAUSE", "held");
        string id = observer.Submit("echo", "QUEUE", "held", "ARGS", "x");
        using RawConnection parked = server.Connect();
        parked.Send([.. RawConnection.Encode("RESULT", id, "TIMEOUT", "0"), .. RawConnection.Encode("WAIT", "0", id),
                     .. RawConnection.Encode("FETCH", "BLOCK", "0", "FROM", "nothing-here")]);
        observer.AwaitInfo("parked_requests", 3);
        Assert.Equal(1, observer.InfoNumber("parked_connections"));

        observer.Call("QUEUE", "RESUME", "held");
        Assert.Equal("$1\r\nx\r\n", parked.ReadReply(TimeSpan.FromSeconds(30)));
        Assert.Equal(":1\r\n", parked.ReadReply(TimeSpan.FromSeconds(30)));
        observer.AwaitInfo("parked_requests", 1);
        Assert.Equal(1, observer.InfoNumber("parked_connections")); // the FETCH still waits
        parked.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.Equal("*0\r\n", parked.ReadReply(TimeSpan.FromSeconds(30))); // answered at its peer's FIN
        observer.AwaitInfo("parked_connections", 0);
    }
}
