using System.CommandLine;
using EventLoop.Cli.CommandLine;
using EventLoop.Client;

namespace EventLoop.Cli.Monitor;

/// <summary>What <c>eventloop info</c> and <c>eventloop stat</c> share: validating the target, connecting, and the exit codes.</summary>
internal static class MonitorCommand
{
    public const string Notes = OptionValues.Syntax + """

        Exit codes: 0 done, 1 the server could not be reached or answered an error, 2 bad options.
        """;

    /// <summary>Connects to the server <paramref name="options"/> name and runs <paramref name="work"/> with the client.</summary>
    public static int Run(ParseResult parsed, MonitorOptions options, Func<EventLoopClient, TextWriter, Task> work)
    {
        if (options.Validate() is string problem)
            return EventLoopCommandLine.Refuse(parsed, problem);
        TextWriter output = parsed.InvocationConfiguration.Output;
        TextWriter errors = parsed.InvocationConfiguration.Error;
        string name = $"eventloop {parsed.CommandResult.Command.Name}";
        try
        {
            RunAsync(options, output, work).GetAwaiter().GetResult();
            return 0;
        }
        catch (RespConnectionException lost)
        {
            errors.WriteLine($"{name}: {lost.Message}");
            return 1;
        }
        catch (RespErrorException refused)
        {
            errors.WriteLine($"{name}: the server answered {refused.Message}");
            return 1;
        }
    }

    private static async Task RunAsync(MonitorOptions options, TextWriter output, Func<EventLoopClient, TextWriter, Task> work)
    {
        await using EventLoopClient client = await EventLoopClient.ConnectAsync(options.Host, options.Port).ConfigureAwait(false);
        await work(client, output).ConfigureAwait(false);
    }
}
