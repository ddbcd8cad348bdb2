using System.CommandLine;
using EventLoop.Cli.CommandLine;
using EventLoop.Cli.Plotting;

namespace EventLoop.Cli.Load;

/// <summary><c>eventloop load</c>: the load generator's command line.</summary>
public static class LoadCommand
{
    /// <summary>The <c>load</c> command; <paramref name="liveProgress"/> redraws a progress line on standard error each second.</summary>
    internal static Command Create(bool liveProgress)
    {
        var command = new NotedCommand("load", LoadArguments.Description, LoadArguments.Notes).WithOptions(LoadArguments.Options);
        command.SetAction(parsed => Run(parsed, liveProgress));
        return command;
    }

    /// <summary>Runs <c>eventloop load</c> with <paramref name="args"/> and explicit output streams; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter errors, bool liveProgress) =>
        EventLoopCommandLine.Run(["load", .. args], output, errors, liveProgress);

    private static int Run(ParseResult parsed, bool liveProgress)
    {
        TextWriter output = parsed.InvocationConfiguration.Output;
        TextWriter errors = parsed.InvocationConfiguration.Error;
        if (LoadArguments.Bind(parsed, out string? problem) is not LoadOptions options)
            return EventLoopCommandLine.Refuse(parsed, problem!);
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // the first Ctrl+C ends the run and still prints what was measured
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            string unit = options.Lifecycle ? "tasks/s" : "req/s";
            Action<LoadProgress>? showProgress = liveProgress ? p => WriteProgressLine(errors, p, unit) : null;
            LoadReport report = LoadRunner.RunAsync(options, cancellation.Token, showProgress).GetAwaiter().GetResult();
            if (liveProgress)
                errors.Write("\r\x1b[K");
            output.Write(report.FormatSummary());
            if (options.JsonPath is string path)
                File.WriteAllText(path, report.ToJson());
            if (options.PlotPath is string plot)
                SvgChart.Save(LatencyPlot.Spectrum(report), plot);
            return ExitCode(report, errors);
        }
        catch (LoadSetupException e)
        {
            return EventLoopCommandLine.Refuse(parsed, e.Message);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
        {
            errors.WriteLine($"eventloop load: the run failed: {e.Message}");
            return 1;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static int ExitCode(LoadReport report, TextWriter errors)
    {
        switch (report.Outcome)
        {
            case LoadOutcome.NoConnection:
                errors.WriteLine($"eventloop load: could not connect to {report.Target}: {report.FirstError}");
                return 1;
            case LoadOutcome.ServerUnreachable:
                errors.WriteLine($"eventloop load: lost the server at {report.Target} and could not reconnect: {report.FirstError}");
                return 1;
            default:
                return 0;
        }
    }

    private static void WriteProgressLine(TextWriter errors, LoadProgress p, string unit)
    {
        string p99 = p.P99Microseconds > 0 ? $"{p.P99Microseconds:N0} µs" : "-";
        errors.Write($"\r\x1b[K{p.ElapsedSeconds,5:0}s  {p.RequestsPerSecond,12:N0} {unit}  {p.OpenConnections,6} open  {p.Errors} errors  p99 {p99}");
    }
}
