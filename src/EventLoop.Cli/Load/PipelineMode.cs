namespace EventLoop.Cli.Load;

/// <summary>How a connection fills its pipeline (<c>--pipeline-mode</c>).</summary>
public enum PipelineMode
{
    /// <summary>A new request as soon as a reply makes room: <c>--pipeline</c> requests stay in flight.</summary>
    Window,

    /// <summary>Send <c>--pipeline</c> requests together, wait for all their replies, repeat (redis-benchmark).</summary>
    Batch,
}
