using System.Runtime.CompilerServices;
using EventLoop.Reactor;
using EventLoop.Tasks;

namespace EventLoop.Stores;

/// <summary>Opens the store <c>--store</c> names.</summary>
internal static class QueueStores
{
    public static IQueueStore Open(ReactorLoop reactor, TaskRegistry tasks) =>
        reactor.Options.Store is { } address ? OpenPostgres(reactor, tasks, address) : new MemoryQueueStore(reactor);

    /// <summary>
    /// Its own method, never inlined: a server on the in-memory store then never loads Npgsql, whose assemblies would
    /// each hold a descriptor (the descriptor-exhaustion test counts them).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static IQueueStore OpenPostgres(ReactorLoop reactor, TaskRegistry tasks, string address) =>
        Postgres.PostgresQueueStore.Open(reactor, tasks, address);

    /// <summary>Null when <paramref name="address"/> is a store address this server understands, else why not.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static string? Check(string address) =>
        Postgres.PostgresAddress.TryParse(address, out _, out string? error) ? null : error;
}
