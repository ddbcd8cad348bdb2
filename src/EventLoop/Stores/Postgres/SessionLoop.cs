using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// A thread with a PostgreSQL session of its own, outside Npgsql's pool: what the session holds must end with it (the
/// schedule leader's advisory lock), or its statements may take longer than a round trip can wait (a vacuum). The thread
/// calls <see cref="Step"/> until disposed, waiting between steps as long as the last one asked; the session is opened
/// when a step first needs it, and after a failed step it is dropped (with whatever it held) and opened again by a
/// later one. Touches no reactor state.
/// </summary>
internal abstract class SessionLoop : IDisposable
{
    private readonly string _connectionString;
    private readonly ManualResetEventSlim _stopping = new();
    private readonly Thread _thread;
    private NpgsqlConnection? _session;

    protected SessionLoop(NpgsqlConnectionStringBuilder settings, string name, int statementTimeoutSeconds)
    {
        _connectionString = new NpgsqlConnectionStringBuilder(settings.ConnectionString)
        {
            Pooling = false,
            CommandTimeout = statementTimeoutSeconds,
            ApplicationName = name,
        }.ConnectionString;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
    }

    /// <summary>The loop's session, opened on first use (loop thread only).</summary>
    protected NpgsqlConnection Session
    {
        get
        {
            if (_session is null)
            {
                var opened = new NpgsqlConnection(_connectionString);
                try
                {
                    opened.Open();
                    Opened(opened);
                }
                catch
                {
                    opened.Dispose();
                    throw;
                }
                _session = opened;
            }
            return _session;
        }
    }

    /// <summary>Starts the thread: the derived constructor's last call, once its own fields are set.</summary>
    protected void Start() => _thread.Start();

    /// <summary>Loop thread: a new session is open, before any step uses it (what it must hold for its whole life: a LISTEN).</summary>
    protected virtual void Opened(NpgsqlConnection session)
    {
    }

    /// <summary>One step; returns how long to wait before the next, in ms.</summary>
    protected abstract int Step();

    /// <summary>A step threw (not while stopping); the session is dropped after this. Returns the wait before the next step, in ms.</summary>
    protected abstract int Failed(Exception failure);

    /// <summary>Any thread, once, when disposing: before the loop thread is joined (to cancel a long statement).</summary>
    protected virtual void Stopping()
    {
    }

    protected NpgsqlCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlCommand(sql, Session);
        foreach (object value in values)
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        return command;
    }

    private void Run()
    {
        int waitMs = 0;
        while (!_stopping.Wait(waitMs))
        {
            try
            {
                waitMs = Step();
            }
            catch (Exception failed)
            {
                // Whatever failed, this thread must not die with it (it would take the process): when stopping, stop;
                // otherwise the session is suspect: drop it, and what it held with it.
                if (_stopping.IsSet)
                    break;
                waitMs = Failed(failed);
                _session?.Dispose();
                _session = null;
            }
        }
    }

    public void Dispose()
    {
        _stopping.Set();
        Stopping();
        if (!_thread.Join(TimeSpan.FromSeconds(10)))
            return; // a statement outlived its timeout: the session is still the thread's, and goes with the process
        _session?.Dispose(); // an unpooled session: closing it ends what it held at once
        _stopping.Dispose();
    }
}
