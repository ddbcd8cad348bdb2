using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using EventLoop.Cli.Load;
using EventLoop.Cli.Monitor;
using EventLoop.Cli.Plotting;
using EventLoop.Cli.Serve;

namespace EventLoop.Cli.CommandLine;

/// <summary>
/// The <c>eventloop</c> command tree on System.CommandLine: parsing, generated help, the <c>[suggest]</c>
/// completion directive, and the project's own error convention (the command's name, the problem, exit 2).
/// </summary>
internal static class EventLoopCommandLine
{
    /// <summary>Exit code for a command line that cannot run, as in the commands before System.CommandLine.</summary>
    public const int BadUsage = 2;

    /// <summary>Builds the tree; <paramref name="liveProgress"/> lets <c>load</c> redraw its progress line.</summary>
    public static RootCommand Create(bool liveProgress)
    {
        var root = new RootCommand("eventloop — a TCP task server on its own event loop, and a C10K load generator")
        {
            ServeCommand.Create(),
            LoadCommand.Create(liveProgress),
            InfoCommand.Create(),
            StatCommand.Create(),
            PlotCommand.Create(),
        };
        HelpOption help = root.Options.OfType<HelpOption>().Single();
        help.Action = new HelpWithNotes((HelpAction)help.Action!);
        root.Options.OfType<VersionOption>().Single().Action = new PrintVersion();
        return root;
    }

    /// <summary>Parses <paramref name="args"/> (without the program name) and runs the command they name.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter errors, bool liveProgress)
    {
        ParseResult parsed = Create(liveProgress).Parse(args);
        if (parsed.Action is ParseErrorAction)
            return Report(errors, parsed.CommandResult.Command, parsed.Errors.Select(e => e.Message).Distinct());
        // Synchronous actions and no termination handling: serve and load handle their signals themselves.
        return parsed.Invoke(new InvocationConfiguration { Output = output, Error = errors, ProcessTerminationTimeout = null });
    }

    /// <summary>Says why the parsed options cannot run and returns <see cref="BadUsage"/>.</summary>
    public static int Refuse(ParseResult parsed, string problem) =>
        Report(parsed.InvocationConfiguration.Error, parsed.CommandResult.Command, [problem]);

    /// <summary>True when the command line asks for help (which then wins over any error).</summary>
    public static bool IsHelp(ParseResult parsed) => parsed.Action is HelpWithNotes;

    /// <summary>Adds every option of <paramref name="options"/> to <paramref name="command"/>.</summary>
    public static Command WithOptions(this Command command, IEnumerable<Option> options)
    {
        foreach (Option option in options)
            command.Add(option);
        return command;
    }

    private static int Report(TextWriter errors, Command command, IEnumerable<string> problems)
    {
        foreach (string problem in problems)
            errors.WriteLine($"{Name(command)}: {problem}");
        errors.WriteLine($"({Name(command)} --help lists the {(command is RootCommand ? "commands" : "options")})");
        return BadUsage;
    }

    private static string Name(Command command) => command is RootCommand ? "eventloop" : $"eventloop {command.Name}";

    /// <summary>The server's version, the one INFO reports (the library would print the assembly's).</summary>
    private sealed class PrintVersion : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            parseResult.InvocationConfiguration.Output.WriteLine($"eventloop {Commands.InfoCommand.Version}");
            return 0;
        }
    }

    /// <summary>The library's help, then the command's <see cref="NotedCommand.Notes"/> (syntaxes, exit codes).</summary>
    private sealed class HelpWithNotes(HelpAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            TextWriter output = parseResult.InvocationConfiguration.Output;
            var text = new StringWriter();
            parseResult.InvocationConfiguration.Output = text;
            int code = help.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output = output;
            // The root is named after the entry assembly (EventLoop.Cli), not the program people type.
            output.Write(text.ToString().Replace($"  {RootCommand.ExecutableName} ", "  eventloop ", StringComparison.Ordinal));
            if (parseResult.CommandResult.Command is NotedCommand { Notes: var notes })
                output.WriteLine(notes);
            return code;
        }
    }
}

/// <summary>A command whose help ends with notes the option list cannot say (value syntaxes, exit codes).</summary>
internal sealed class NotedCommand(string name, string description, string notes) : Command(name, description)
{
    public string Notes { get; } = notes;
}
