namespace EventLoop.Cli.Serve;

/// <summary><c>eventloop serve</c>: runs the server until SIGINT or SIGTERM.</summary>
internal static class ServeCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("eventloop serve: not built yet");
        return 2;
    }
}
