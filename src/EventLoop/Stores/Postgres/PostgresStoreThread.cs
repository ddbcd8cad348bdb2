using System.Diagnostics;
using Npgsql;

namespace EventLoop.Stores.Postgres;

/// <summary>
/// The store hand-off: the fourth place where EventLoop's threads pass work (after the ring, the completion queue
/// and the journal's batch). The reactor collects the PostgreSQL requests of one loop iteration and hands them over
/// as one list (<see cref="Hand"/>: a lock held for a list swap); this thread runs each list as one
/// <see cref="NpgsqlBatch"/> (one round trip, an error barrier between statements so one failure costs only its
/// own request), then posts the list back through the completion queue, where the reactor completes every request in
/// order. The reactor never waits on the database, and this thread touches no reactor state. A node runs two: the
/// main one for the clients' requests and the sweep, and one for its in-process runs (a backend of their own).
/// </summary>
internal sealed class PostgresStoreThread : IDisposable
{
    /// <summary>Requests per round trip at most: a burst larger than this takes several.</summary>
    private const int MaxBatch = 1024;

    private readonly NpgsqlDataSource _source;
    private readonly Action<List<StoreRequest>> _completed;
    private readonly Action<string> _log;
    private readonly Thread _thread;
    private readonly object _gate = new(); // Monitor: Wait/Pulse park the thread between batches
    private List<StoreRequest> _incoming = [];
    private bool _stopping;
    private NpgsqlConnection? _connection;
    private volatile int _backendPid;
    /// <summary>The last batch failed: the next failure is not logged again, the next success is (one line per outage, not per batch).</summary>
    private volatile bool _failing;
    private long _roundTrips;
    private long _statements;
    private long _failedRoundTrips;
    private long _lastRoundTripMicros;

    /// <summary>Starts the thread; <paramref name="completed"/> is called on it with each executed list, and posts the list to the reactor.</summary>
    public PostgresStoreThread(NpgsqlDataSource source, string name, Action<List<StoreRequest>> completed, Action<string> log)
    {
        _source = source;
        _completed = completed;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Reactor: hands over one iteration's requests. The list then belongs to this thread.</summary>
    public void Hand(List<StoreRequest> requests)
    {
        lock (_gate)
        {
            if (_incoming.Count == 0)
                _incoming = requests;
            else
                _incoming.AddRange(requests);
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Any thread: the last round trip reached the database (none yet: true).</summary>
    public bool Connected => !_failing;

    /// <summary>Any thread: batches sent (each one round trip), statements in them, batches that failed, and the last one's time.</summary>
    public long RoundTrips => Interlocked.Read(ref _roundTrips);

    public long Statements => Interlocked.Read(ref _statements);

    public long FailedRoundTrips => Interlocked.Read(ref _failedRoundTrips);

    public long LastRoundTripMicros => Interlocked.Read(ref _lastRoundTripMicros);

    /// <summary>Any thread: the server process of this thread's connection, whose own NOTIFYs the listener ignores (the reactor acted on them already).</summary>
    public int BackendPid => _backendPid;

    private void Run()
    {
        while (Take() is { } requests)
        {
            for (int start = 0; start < requests.Count; start += MaxBatch)
                Execute(requests, start, Math.Min(MaxBatch, requests.Count - start));
            _completed(requests);
        }
        _connection?.Dispose();
    }

    private List<StoreRequest>? Take()
    {
        lock (_gate)
        {
            while (_incoming.Count == 0 && !_stopping)
                Monitor.Wait(_gate);
            if (_incoming.Count == 0)
                return null;
            List<StoreRequest> taken = _incoming;
            _incoming = [];
            return taken;
        }
    }

    private void Execute(List<StoreRequest> requests, int start, int count)
    {
        int read = start;
        try
        {
            if (_connection is null)
            {
                _connection = _source.OpenConnection();
                _backendPid = _connection.ProcessID;
                if (_failing)
                    _log("PostgreSQL store: connected again");
                _failing = false;
            }
            long started = Stopwatch.GetTimestamp();
            using var batch = new NpgsqlBatch(_connection) { EnableErrorBarriers = true };
            for (int i = start; i < start + count; i++)
                requests[i].AddTo(batch);
            Interlocked.Increment(ref _roundTrips);
            Interlocked.Add(ref _statements, count);
            int failing = start; // the statement whose error a PostgresException is: the first, then the one NextResult moves to
            try
            {
                using NpgsqlDataReader reader = batch.ExecuteReader();
                for (; read < start + count; read++)
                {
                    try
                    {
                        requests[read].Read(reader);
                    }
                    catch (InvalidCastException unexpected)
                    {
                        requests[read].Failure = unexpected.Message; // a row not shaped as the request expected: that request's error only
                    }
                    failing = read + 1;
                    if (failing < start + count)
                        reader.NextResult();
                }
            }
            catch (PostgresException failed) when ((_connection.FullState & System.Data.ConnectionState.Broken) == 0)
            {
                // A statement failed (ExecuteReader throws the first one's error, NextResult each next one's): its
                // request has the error. The barrier let the statements after it run, but Npgsql reads no further
                // results once one has thrown, so their outcome is unknown: they answer so, and the connection stays.
                requests[failing].Failure = failed.MessageText;
                requests[failing].FailureLasts = Lasting(failed.SqlState);
                for (int i = failing + 1; i < start + count; i++)
                    requests[i].Failure ??= $"not answered: an earlier statement of its round trip failed ({failed.SqlState}); the change may still be made";
                read = start + count;
            }
            Interlocked.Exchange(ref _lastRoundTripMicros, (long)Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }
        catch (Exception failed)
        {
            Interlocked.Increment(ref _failedRoundTrips);
            // Whatever went wrong, this thread must live on: it is the only way to the database.
            // The connection is lost (the database restarted, the network failed): these requests answer an error
            // (a SUBMIT among them may still have been stored, never acknowledged and lost); the next batch reconnects.
            for (int i = read; i < start + count; i++)
                requests[i].Failure ??= failed.Message;
            _connection?.Dispose();
            _connection = null;
            if (!_failing)
                _log($"PostgreSQL store: {count - (read - start)} request(s) failed, and each request answers an error until it is back: {failed.Message}");
            _failing = true;
        }
    }

    /// <summary>
    /// A statement error that a retry would meet again: not a lost connection (08), a rollback such as a deadlock
    /// (40), resources (53), a lock not available (55), an operator's stop or a timeout (57) or a system error (58).
    /// </summary>
    private static bool Lasting(string sqlState) => sqlState[..2] is not ("08" or "40" or "53" or "55" or "57" or "58");

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
        if (!_thread.Join(TimeSpan.FromSeconds(10)))
            Debug.Fail("the PostgreSQL store thread did not stop");
    }
}
