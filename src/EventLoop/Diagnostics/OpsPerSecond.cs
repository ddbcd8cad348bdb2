using System.Diagnostics;

namespace EventLoop.Diagnostics;

/// <summary>
/// Instantaneous operations per second, as Redis reports it: the mean rate over the last 16 samples
/// taken by the reactor's housekeeping. Written by the reactor; <see cref="Current"/> may be read anywhere.
/// </summary>
internal sealed class OpsPerSecond
{
    private const int Samples = 16;
    private readonly double[] _rates = new double[Samples];
    private long _lastCount;
    private long _lastAt;
    private double _current;

    public long SampleCount { get; private set; }

    public double Current => Volatile.Read(ref _current);

    public void Sample(long totalOperations, long now)
    {
        if (_lastAt != 0 && now > _lastAt)
            _rates[SampleCount % Samples] = (totalOperations - _lastCount) * (double)Stopwatch.Frequency / (now - _lastAt);
        _lastCount = totalOperations;
        _lastAt = now;
        SampleCount++;
        double sum = 0;
        foreach (double rate in _rates) // not LINQ: this runs at the descriptor limit too, where loading another assembly fails
            sum += rate;
        Volatile.Write(ref _current, sum / Samples);
    }
}
