namespace EventLoop.Cli.Load;

/// <summary>How a closed-loop connection refills its pipeline (<c>--pipeline-mode</c>).</summary>
public enum PipelineMode
{
    /// <summary>A new request as soon as a reply makes room: <c>--pipeline</c> requests stay in flight (memtier, wrk).</summary>
    Window,

    /// <summary>Send <c>--pipeline</c> requests together, wait for all their replies, repeat (redis-benchmark).</summary>
    Batch,
}
