namespace EventLoop.Cli.Load;

/// <summary><c>eventloop load</c>: the load generator's command line.</summary>
public static class LoadCommand
{
    /// <summary>Runs <c>eventloop load</c> with <paramref name="args"/>; returns the exit code.</summary>
    public static int Run(string[] args) => Run(args, Console.Out, Console.Error, liveProgress: !Console.IsErrorRedirected);

    /// <summary>Runs with explicit output streams; the live line goes to <paramref name="errors"/> when <paramref name="liveProgress"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter errors, bool liveProgress)
    {
        LoadOptions? options = LoadArguments.Parse(args, out bool helpRequested, out string? problem);
        if (helpRequested)
        {
            output.WriteLine(LoadArguments.Help);
            return 0;
        }
        if (options is null)
            return Refuse(errors, problem!);
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // the first Ctrl+C ends the run and still prints what was measured
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            Action<LoadProgress>? showProgress = liveProgress ? p => WriteProgressLine(errors, p) : null;
            LoadReport report = LoadRunner.RunAsync(options, cancellation.Token, showProgress).GetAwaiter().GetResult();
            if (liveProgress)
                errors.Write("\r\x1b[K");
            output.Write(report.FormatSummary());
            if (options.JsonPath is string path)
                File.WriteAllText(path, report.ToJson());
            return ExitCode(report, errors);
        }
        catch (LoadSetupException e)
        {
            return Refuse(errors, e.Message);
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

    private static int Refuse(TextWriter errors, string problem)
    {
        errors.WriteLine($"eventloop load: {problem}");
        errors.WriteLine("(eventloop load --help lists the options)");
        return 2;
    }

    private static void WriteProgressLine(TextWriter errors, LoadProgress p)
    {
        string p99 = p.P99Microseconds > 0 ? $"{p.P99Microseconds:N0} µs" : "-";
        errors.Write($"\r\x1b[K{p.ElapsedSeconds,5:0}s  {p.RequestsPerSecond,12:N0} req/s  {p.OpenConnections,6} open  {p.Errors} errors  p99 {p99}");
    }
}
