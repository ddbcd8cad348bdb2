namespace EventLoop.Cli.Load;

/// <summary><c>eventloop load</c>: the load generator.</summary>
internal static class LoadCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("eventloop load: not built yet");
        return 2;
    }
}
