using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// LISTENs on a session and thread of its own (<see cref="SessionLoop"/>) for the other nodes' news (a task became
/// ready in a queue, a task finished) and passes each notification to its callback, which posts it to the reactor.
/// After a lost session it opens another every 500 ms and, once listening again, reports <c>null</c>:
/// notifications may have been missed, so waiters look again.
/// </summary>
internal sealed class PostgresListener : SessionLoop
{
    /// <summary>How long one step waits for a notification: bounded, so a stop is seen.</summary>
    private const int WaitMs = 250;
    private const int ReopenMs = 500;
    private const int StatementTimeoutSeconds = 30;

    private readonly Action<string?, string?, int> _heard;
    private readonly Action<string> _log;
    /// <summary>Loop thread: a session was lost (or never opened) since the last LISTEN, so notifications may have been missed.</summary>
    private bool _mayHaveMissed;
    private bool _lostLogged;
    private volatile bool _connected;

    /// <summary>Starts listening; <paramref name="heard"/> is called on this thread with (channel, payload, sending backend), or (null, null, 0) after a reconnection.</summary>
    public PostgresListener(NpgsqlConnectionStringBuilder settings, Action<string?, string?, int> heard, Action<string> log)
        : base(settings, "eventloop-postgres-listen", StatementTimeoutSeconds)
    {
        _heard = heard;
        _log = log;
        Start();
    }

    /// <summary>Any thread: LISTENing now (false while reconnecting).</summary>
    public bool Connected => _connected;

    protected override void Opened(NpgsqlConnection session)
    {
        session.Notification += (_, notice) => _heard(notice.Channel, notice.Payload, notice.PID);
        using (var listen = new NpgsqlCommand($"LISTEN {PostgresSchema.ReadyChannel}; LISTEN {PostgresSchema.DoneChannel}", session))
            listen.ExecuteNonQuery();
        if (_mayHaveMissed)
            _heard(null, null, 0);
        _mayHaveMissed = _lostLogged = false;
        _connected = true;
    }

    protected override int Step()
    {
        Session.Wait(TimeSpan.FromMilliseconds(WaitMs)); // notifications are raised on this thread, inside the wait
        return 0;
    }

    protected override int Failed(Exception failure)
    {
        _connected = false;
        _mayHaveMissed = true;
        if (!_lostLogged)
            _log($"PostgreSQL store: notifications lost ({failure.Message}); reconnecting every {ReopenMs} ms");
        _lostLogged = true;
        return ReopenMs;
    }
}
