using System.Diagnostics;

namespace EventLoop.Tests.Support;

/// <summary>Runs real programs (redis-cli, redis-benchmark, the eventloop CLI) with a deadline.</summary>
public static class ExternalProcess
{
    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>Runs <paramref name="program"/> to completion; a missing tool fails the test with how to get it.</summary>
    public static Result Run(string program, IEnumerable<string> arguments, string? input = null, int timeoutMs = 60_000)
    {
        string path = Locate(program);
        var start = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (input is not null)
            process.StandardInput.Write(input);
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutMs))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish within {timeoutMs} ms");
        }
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>Finds a tool on PATH; fails with the package that provides it (./build.sh test installs it).</summary>
    public static string Locate(string program)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException($"'{program}' is not installed: run ./build.sh test (it installs redis-tools) or apt-get install redis-tools");
    }

    /// <summary>The built CLI at artifacts/bin/eventloop, found by walking up from the test assembly.</summary>
    public static string EventLoopProgram()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "artifacts", "bin", "eventloop");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new InvalidOperationException("artifacts/bin/eventloop not found: build with ./build.sh");
    }
}
