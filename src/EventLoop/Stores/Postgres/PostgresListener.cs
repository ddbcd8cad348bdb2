using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// LISTENs on its own connection and thread for the other nodes' news (a task became ready in a queue, a task
/// finished) and passes each notification to its callback, which posts it to the reactor. After a lost
/// connection it reconnects and reports <c>null</c>: notifications may have been missed, so waiters look again.
/// </summary>
internal sealed class PostgresListener : IDisposable
{
    private readonly NpgsqlDataSource _source;
    private readonly Action<string?, string?, int> _heard;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private volatile bool _stopping;
    private volatile bool _connected;

    /// <summary>Starts listening; <paramref name="heard"/> is called on this thread with (channel, payload, sending backend), or (null, null, 0) after a reconnection.</summary>
    public PostgresListener(NpgsqlDataSource source, Action<string?, string?, int> heard, Action<string> log)
    {
        _source = source;
        _heard = heard;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "eventloop-postgres-listen" };
        _thread.Start();
    }

    /// <summary>Any thread: LISTENing now (false while reconnecting).</summary>
    public bool Connected => _connected;

    private void Run()
    {
        bool first = true, lost = false;
        while (!_stopping)
        {
            try
            {
                using NpgsqlConnection connection = _source.OpenConnection();
                connection.Notification += (_, notice) => _heard(notice.Channel, notice.Payload, notice.PID);
                using (var listen = new NpgsqlCommand($"LISTEN {PostgresSchema.ReadyChannel}; LISTEN {PostgresSchema.DoneChannel}", connection))
                    listen.ExecuteNonQuery();
                if (!first)
                    _heard(null, null, 0);
                first = lost = false;
                _connected = true;
                while (!_stopping)
                    connection.Wait(TimeSpan.FromMilliseconds(250)); // bounded, so a stop is seen
            }
            catch (Exception failed)
            {
                _connected = false;
                if (_stopping)
                    return;
                first = false;
                if (!lost)
                    _log($"PostgreSQL store: notifications lost ({failed.Message}); reconnecting every 500 ms");
                lost = true;
                Thread.Sleep(500);
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _thread.Join(TimeSpan.FromSeconds(5));
    }
}
