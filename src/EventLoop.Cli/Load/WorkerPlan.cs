using System.Diagnostics;

namespace EventLoop.Cli.Load;

/// <summary>One load thread's share of a run. Immutable.</summary>
/// <param name="Index">The thread's number, 0-based.</param>
/// <param name="BusyConnections">Connections that send requests.</param>
/// <param name="IdleConnections">Connections that are only held open.</param>
/// <param name="ConnectRate">This thread's new connections per second; 0 = unlimited.</param>
/// <param name="Rate">Open loop: this thread's requests per second; 0 = closed loop.</param>
/// <param name="RatePhase">Open loop: offset of this thread's schedule from the others', in ticks, so threads interleave.</param>
/// <param name="Requests">This thread's share of <c>--requests</c>, or null.</param>
internal sealed record WorkerPlan(int Index, int BusyConnections, int IdleConnections, double ConnectRate,
    double Rate, long RatePhase, long? Requests)
{
    /// <summary>Splits a run over <see cref="LoadOptions.Threads"/> threads; rates and requests follow the busy connections.</summary>
    public static WorkerPlan[] Split(LoadOptions options)
    {
        int threads = options.Threads;
        var plans = new WorkerPlan[threads];
        for (int w = 0; w < threads; w++)
        {
            int busy = ShareOf(options.Connections, w, threads);
            long? requests = options.Requests is long total
                ? CumulativeShare(total, options.Connections, w + 1, threads) - CumulativeShare(total, options.Connections, w, threads)
                : null;
            long phase = options.IsOpenLoop ? (long)(w * Stopwatch.Frequency / options.Rate) : 0;
            plans[w] = new WorkerPlan(w, busy, ShareOf(options.Idle, w, threads), options.ConnectRate / threads,
                options.Rate * busy / options.Connections, phase, requests);
        }
        return plans;
    }

    private static int ShareOf(int total, int index, int parts) => total / parts + (index < total % parts ? 1 : 0);

    /// <summary>The requests given to the threads before <paramref name="threadsBefore"/>, in proportion to their connections.</summary>
    private static long CumulativeShare(long requests, int connections, int threadsBefore, int threads)
    {
        long connectionsBefore = 0;
        for (int w = 0; w < threadsBefore; w++)
            connectionsBefore += ShareOf(connections, w, threads);
        return (long)((Int128)requests * connectionsBefore / connections);
    }
}
