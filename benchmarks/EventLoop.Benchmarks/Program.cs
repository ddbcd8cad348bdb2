using BenchmarkDotNet.Running;
using EventLoop.Benchmarks;

// `consume` is a side-by-side run against live servers (benchmarks/workers.sh); everything else is BenchmarkDotNet.
if (args.Length > 0 && args[0] == "consume")
    return await ConsumeRun.RunAsync(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
