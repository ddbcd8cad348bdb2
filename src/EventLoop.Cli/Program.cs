using EventLoop.Cli.Load;
using EventLoop.Cli.Serve;

return args.Length == 0 ? Usage(Console.Error, 2) : args[0] switch
{
    "serve" => ServeCommand.Run(args[1..]),
    "load" => LoadCommand.Run(args[1..]),
    "-h" or "--help" or "help" => Usage(Console.Out, 0),
    _ => Usage(Console.Error, 2),
};

static int Usage(TextWriter output, int exitCode)
{
    output.WriteLine("""
        eventloop — a TCP task server on its own event loop, and a C10K load generator

        usage:
          eventloop serve [options]   run the server (eventloop serve --help for options)
          eventloop load [options]    drive load against any RESP server (eventloop load --help)
        """);
    return exitCode;
}
