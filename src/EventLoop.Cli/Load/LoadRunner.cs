using System.Net;
using System.Net.Sockets;
using EventLoop.Multiplexing;

namespace EventLoop.Cli.Load;

/// <summary>The options cannot run here (bad values, too few file descriptors, unknown host).</summary>
public sealed class LoadSetupException(string message) : Exception(message);

/// <summary>What the live line shows, once a second (in a lifecycle run, RequestsPerSecond counts lifecycles).</summary>
/// <param name="P99Microseconds">p99 latency of the measured replies so far (0 during the warm-up).</param>
public sealed record LoadProgress(double ElapsedSeconds, double RequestsPerSecond, int OpenConnections, long Errors, long P99Microseconds);

/// <summary>
/// Runs a load: checks the limits, starts one thread per <see cref="LoadOptions.Threads"/> (each a
/// <see cref="LoadWorker"/>), reports progress from the calling thread, and merges the results.
/// </summary>
public static class LoadRunner
{
    private const int SpareDescriptors = 32; // the runtime's own files, the JSON file, stdio
    private const int SelectDescriptorLimit = 1024; // FD_SETSIZE
    private const long MaxBatchBytes = 256L * 1024 * 1024; // send buffers: pipeline × request bytes per thread, or lifecycle connections' own

    /// <summary>Runs a load until its bound; returns the report. Cancelling stops it early with what was measured.</summary>
    /// <exception cref="LoadSetupException">The options are invalid or cannot fit this process's limits.</exception>
    public static async Task<LoadReport> RunAsync(LoadOptions options, CancellationToken cancellationToken = default,
        Action<LoadProgress>? progress = null)
    {
        if (options.Validate() is string problem)
            throw new LoadSetupException(problem);
        LifecycleTemplate? lifecycle = options.Lifecycle
            ? new LifecycleTemplate(options.Task, options.PayloadBytes, options.ResultTimeout) : null;
        RequestTemplate template = lifecycle?.Submit ?? ParseTemplate(options);
        CheckBufferSizes(options, template, lifecycle);
        EnsureDescriptorsFor(options);
        IPEndPoint endpoint = await ResolveAsync(options.Host, options.Port, cancellationToken).ConfigureAwait(false);
        var recorder = new LatencyRecorder();
        var clock = RunClock.For(options, RunClock.Now);
        LoadWorker[] workers = CreateWorkers(options, clock, endpoint, template, lifecycle, recorder);
        TimeSpan cpuAtStart = Environment.CpuUsage.TotalTime;
        try
        {
            Task[] threads = [.. workers.Select((w, i) => StartThread(w, i, workers))];
            using (cancellationToken.Register(() => StopAll(workers)))
                await ReportProgressAsync(Task.WhenAll(threads), workers, recorder, clock, progress).ConfigureAwait(false);
            await Task.WhenAll(threads).ConfigureAwait(false);
            var usage = new GeneratorUsage(
                (Environment.CpuUsage.TotalTime - cpuAtStart).TotalSeconds,
                RunClock.Seconds(RunClock.Now - clock.Start),
                PeakResidentBytes(),
                workers.Max(w => w.BusyWhileMeasuring));
            return BuildReport(options, endpoint, template, lifecycle, clock, workers, recorder, usage);
        }
        finally
        {
            foreach (LoadWorker worker in workers)
                worker.Dispose();
        }
    }

    private static LoadWorker[] CreateWorkers(LoadOptions options, RunClock clock, IPEndPoint endpoint,
        RequestTemplate template, LifecycleTemplate? lifecycle, LatencyRecorder recorder)
    {
        var workers = new List<LoadWorker>();
        try
        {
            foreach (WorkerPlan plan in WorkerPlan.Split(options))
                workers.Add(new LoadWorker(options, plan, clock, endpoint, template, lifecycle, recorder));
            return [.. workers];
        }
        catch (Exception e) when (e is ArgumentException or MultiplexerException)
        {
            workers.ForEach(w => w.Dispose());
            throw new LoadSetupException($"--backend {options.Backend}: {e.Message}");
        }
    }

    private static RequestTemplate ParseTemplate(LoadOptions options)
    {
        try
        {
            return RequestTemplate.Parse(options.Command, options.PayloadBytes, options.Keyspace);
        }
        catch (FormatException e)
        {
            throw new LoadSetupException(e.Message);
        }
    }

    /// <summary>
    /// Refuses send buffers that would not fit: a thread's batch holds a pipeline of requests; in a
    /// lifecycle run each connection holds two pipelines of its longest request instead.
    /// </summary>
    private static void CheckBufferSizes(LoadOptions options, RequestTemplate template, LifecycleTemplate? lifecycle)
    {
        if (lifecycle is null && (long)template.Bytes.Length * options.Pipeline > MaxBatchBytes)
            throw new LoadSetupException(
                $"--pipeline {options.Pipeline} × {template.Bytes.Length:N0}-byte requests is over {MaxBatchBytes >> 20} MiB per thread: lower one of them");
        if (lifecycle is not null && 2L * options.Connections * options.Pipeline * lifecycle.MaxRequestBytes > MaxBatchBytes)
            throw new LoadSetupException(
                $"--lifecycle buffers two pipelines per connection: -c {options.Connections} × 2 × --pipeline {options.Pipeline} × " +
                $"{lifecycle.MaxRequestBytes:N0}-byte requests is over {MaxBatchBytes >> 20} MiB: lower one of them (or --payload-bytes)");
    }

    /// <summary>Raises the open-file limit to the hard limit and refuses a run that cannot fit under it.</summary>
    private static void EnsureDescriptorsFor(LoadOptions options)
    {
        long limit = FileLimit.RaiseToHardLimit();
        long alreadyOpen = Directory.GetFileSystemEntries("/proc/self/fd").Length;
        long needed = alreadyOpen + options.Connections + options.Idle + 2L * options.Threads + SpareDescriptors;
        if (needed > limit)
            throw new LoadSetupException(
                $"{options.Connections} busy + {options.Idle} idle connections need about {needed} open files " +
                $"({alreadyOpen} already open), but this process may open at most {limit} (the hard limit, ulimit -Hn). " +
                "Lower -c or --idle, or raise the hard limit as root.");
        if (options.Backend == "select" && needed > SelectDescriptorLimit)
            throw new LoadSetupException(
                $"--backend select watches descriptors below {SelectDescriptorLimit} only, and this run needs about {needed}: " +
                "lower -c or --idle, or use another backend.");
    }

    private static async Task<IPEndPoint> ResolveAsync(string host, int port, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out IPAddress? address))
            return new IPEndPoint(address, port);
        try
        {
            IPAddress[] addresses = await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            IPAddress chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
                ?? addresses.FirstOrDefault() ?? throw new LoadSetupException($"--host {host}: no address");
            return new IPEndPoint(chosen, port);
        }
        catch (SocketException e)
        {
            throw new LoadSetupException($"--host {host}: {e.Message}");
        }
    }

    private static Task StartThread(LoadWorker worker, int index, LoadWorker[] all)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                worker.Run();
                done.SetResult();
            }
            catch (Exception e)
            {
                StopAll(all); // one failed thread ends the run: its share is gone
                done.SetException(e);
            }
        })
        { IsBackground = true, Name = $"load-{index}" };
        thread.Start();
        return done.Task;
    }

    private static void StopAll(LoadWorker[] workers)
    {
        foreach (LoadWorker worker in workers)
            worker.RequestStop();
    }

    private static async Task ReportProgressAsync(Task finished, LoadWorker[] workers, LatencyRecorder recorder,
        RunClock clock, Action<LoadProgress>? progress)
    {
        long lastReplies = 0;
        long lastAt = clock.Start;
        while (!finished.IsCompleted)
        {
            await Task.WhenAny(finished, Task.Delay(TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            if (finished.IsCompleted || progress is null)
                continue;
            long now = RunClock.Now;
            long replies = workers.Sum(w => w.Replies);
            progress(new LoadProgress(
                RunClock.Seconds(now - clock.Start),
                (replies - lastReplies) / Math.Max(1e-9, RunClock.Seconds(now - lastAt)),
                workers.Sum(w => w.OpenConnections),
                workers.Sum(w => w.ErrorCount),
                recorder.LatencyP99()));
            (lastReplies, lastAt) = (replies, now);
        }
    }

    /// <summary>The process's peak resident set (VmHWM on Linux).</summary>
    private static long PeakResidentBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.PeakWorkingSet64;
    }

    private static LoadReport BuildReport(LoadOptions options, IPEndPoint endpoint, RequestTemplate template,
        LifecycleTemplate? lifecycle, RunClock clock, LoadWorker[] workers, LatencyRecorder recorder, GeneratorUsage usage)
    {
        (LatencySummary latency, LatencySummary uncorrected, LatencySummary connect) = recorder.Summaries();
        (LatencySpectrum spectrum, LatencySpectrum uncorrectedSpectrum) = recorder.Spectra();
        long requests = workers.Sum(w => w.Measured);
        long end = requests > 0 ? workers.Max(w => w.LastMeasuredReplyAt) : RunClock.Now;
        return new LoadReport
        {
            Options = options,
            Target = endpoint.ToString(),
            RequestBytes = template.Bytes.Length,
            Lifecycle = lifecycle?.Description,
            Outcome = MergeOutcomes(workers),
            FirstError = workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null),
            Requests = requests,
            ErrorsByKind = ErrorKinds.All.ToDictionary(k => k, k => workers.Sum(w => w.Errors[(int)k])),
            DurationSeconds = Math.Max(0, RunClock.Seconds(end - clock.MeasureFrom)),
            Latency = latency,
            LatencyUncorrected = options.IsOpenLoop ? uncorrected : null,
            LatencySpectrum = spectrum,
            UncorrectedSpectrum = options.IsOpenLoop ? uncorrectedSpectrum : null,
            ConnectTime = connect,
            Connects = workers.Sum(w => w.Connects),
            PeakOpenConnections = workers.Sum(w => w.PeakOpen),
            AnsweredConnections = workers.Sum(w => w.AnsweredConnections),
            GeneratorAllocatedBytes = workers.Sum(w => w.AllocatedWhileMeasuring),
            Generator = usage,
        };
    }

    private static LoadOutcome MergeOutcomes(LoadWorker[] workers)
    {
        if (workers.All(w => w.Connects == 0))
            return LoadOutcome.NoConnection;
        if (workers.Any(w => w.Outcome is WorkerOutcome.ServerUnreachable or WorkerOutcome.NoConnection))
            return LoadOutcome.ServerUnreachable;
        return workers.Any(w => w.Outcome == WorkerOutcome.Cancelled) ? LoadOutcome.Cancelled : LoadOutcome.Completed;
    }
}
