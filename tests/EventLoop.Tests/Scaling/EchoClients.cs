using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using EventLoop.Client;

namespace EventLoop.Tests.Scaling;

/// <summary>
/// Clients that send <c>RUN echo</c> one at a time, each with a payload of its own, and reconnect when their
/// connection closes, as a client behind a balancer must. Every reply is checked; a request that gets neither a
/// reply nor a closed connection within <see cref="HangLimit"/> is a hang.
/// </summary>
internal sealed class EchoClients : IAsyncDisposable
{
    public static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(5);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;
    private readonly long[] _lastReplyAt;   // Stopwatch ticks of each client's latest correct reply
    private long _replies, _disconnects;

    public EchoClients(int port, int clients)
    {
        _lastReplyAt = new long[clients];
        _loops = [.. Enumerable.Range(0, clients).Select(i => Task.Run(() => RunAsync(port, i)))];
    }

    /// <summary>Correct replies, over all clients.</summary>
    public long Replies => Interlocked.Read(ref _replies);

    /// <summary>Connections that closed under a client, each taking its request in flight with it, unanswered.</summary>
    public long Disconnects => Interlocked.Read(ref _disconnects);

    /// <summary>Wrong replies, error replies and hangs: each one fails the test.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    /// <summary>True once every client has had a correct reply after <paramref name="ticks"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public bool AllAnsweredSince(long ticks)
    {
        for (int i = 0; i < _lastReplyAt.Length; i++)
            if (Volatile.Read(ref _lastReplyAt[i]) <= ticks)
                return false;
        return true;
    }

    private async Task RunAsync(int port, int client)
    {
        long sequence = 0;
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await using EventLoopClient connection = await EventLoopClient.ConnectAsync("127.0.0.1", port).WaitAsync(HangLimit);
                while (!_stop.IsCancellationRequested)
                {
                    string payload = $"client{client}-request{sequence++}";
                    string reply = Encoding.UTF8.GetString(await connection.RunAsync("echo", payload).WaitAsync(HangLimit));
                    if (reply != payload)
                    {
                        Failures.Enqueue($"client {client}: '{payload}' came back as '{reply}'");
                        return;
                    }
                    Interlocked.Increment(ref _replies);
                    Volatile.Write(ref _lastReplyAt[client], Stopwatch.GetTimestamp());
                }
            }
            catch (RespConnectionException)
            {
                Interlocked.Increment(ref _disconnects); // reconnect at once: the balancer picks a node that is up
            }
            catch (TimeoutException)
            {
                Failures.Enqueue($"client {client}: request {sequence - 1} got no reply and no close within {HangLimit.TotalSeconds} s");
                return;
            }
            catch (RespErrorException e)
            {
                Failures.Enqueue($"client {client}: error reply {e.Message}");
                return;
            }
        }
    }

    /// <summary>Stops every client after its request in flight and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_loops).WaitAsync(HangLimit * 2);
        _stop.Dispose();
    }
}
