using System.Diagnostics;
using Xunit.Abstractions;

namespace EventLoop.Tests.Fuzz;

/// <summary>
/// How long the fuzz properties run, and where they report what they did. The whole fuzz suite shares one
/// budget in seconds: <c>EVENTLOOP_FUZZ_SECONDS</c> (default 12, the CI run); each property takes its share.
/// </summary>
/// <remarks>Thread-safe: properties in different test classes record their results concurrently.</remarks>
internal static class FuzzBudget
{
    private const double DefaultTotalSeconds = 12;
    // A property that hangs is reported as a failure this long after its budget instead of stalling the run.
    private static readonly TimeSpan HangMargin = TimeSpan.FromSeconds(60);
    private static readonly Lock SummaryLock = new();
    private static bool _summaryStarted;

    /// <summary>The whole fuzz suite's budget in seconds.</summary>
    public static double TotalSeconds { get; } =
        double.TryParse(Environment.GetEnvironmentVariable("EVENTLOOP_FUZZ_SECONDS"), out double seconds) && seconds > 0
            ? seconds
            : DefaultTotalSeconds;

    /// <summary>Whole seconds (at least one, as CsCheck counts) for a property taking <paramref name="share"/> of the budget.</summary>
    public static int Seconds(double share) => Math.Max(1, (int)Math.Round(TotalSeconds * share));

    /// <summary>
    /// Runs <paramref name="property"/> (which returns how many inputs it executed) on its own thread, fails
    /// if it outlives its budget by more than a minute, and reports executions and duration.
    /// </summary>
    public static void Run(ITestOutputHelper output, string name, int seconds, Func<long> property)
    {
        var stopwatch = Stopwatch.StartNew();
        Task<long> run = Task.Factory.StartNew(property, TaskCreationOptions.LongRunning);
        if (Task.WaitAny([run], TimeSpan.FromSeconds(seconds) + HangMargin) < 0)
            throw new TimeoutException($"{name} still running {seconds} s + {HangMargin.TotalSeconds} s after it started: an input hangs");
        long executions = run.GetAwaiter().GetResult(); // rethrows CsCheck's report of a failing input as it is
        Report(output, $"{name}: {executions} executions in {stopwatch.Elapsed.TotalSeconds:0.0} s (budget {seconds} s)");
    }

    /// <summary>Writes one line to the test output and to <c>artifacts/fuzz/summary.txt</c>, which each test process starts afresh.</summary>
    public static void Report(ITestOutputHelper output, string line)
    {
        output.WriteLine(line);
        string path = Path.Combine(RepositoryRoot(), "artifacts", "fuzz", "summary.txt");
        lock (SummaryLock)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            if (!_summaryStarted)
                File.WriteAllText(path, $"fuzz budget {TotalSeconds} s (EVENTLOOP_FUZZ_SECONDS), {DateTime.UtcNow:u}\n");
            _summaryStarted = true;
            File.AppendAllText(path, line + "\n");
        }
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "EventLoop.sln")))
                return directory.FullName;
        }
        throw new DirectoryNotFoundException($"no EventLoop.sln above {AppContext.BaseDirectory}");
    }
}
