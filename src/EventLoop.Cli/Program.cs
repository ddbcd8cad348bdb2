using EventLoop.Cli.CommandLine;

return EventLoopCommandLine.Run(args, Console.Out, Console.Error, liveProgress: !Console.IsErrorRedirected);
