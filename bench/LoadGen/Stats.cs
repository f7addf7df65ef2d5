namespace LoadGen;

/// <summary>Latency samples in microseconds.</summary>
internal sealed class Samples
{
    private readonly List<double> _values = [];

    public int Count
    {
        get
        {
            lock (_values)
            {
                return _values.Count;
            }
        }
    }

    public void Add(double micros)
    {
        lock (_values)
        {
            _values.Add(micros);
        }
    }

    public double Percentile(double p)
    {
        lock (_values)
        {
            if (_values.Count == 0)
            {
                return double.NaN;
            }

            _values.Sort();
            var rank = (int)Math.Ceiling(p / 100 * _values.Count) - 1;
            return _values[Math.Clamp(rank, 0, _values.Count - 1)];
        }
    }

    public double P50 => Percentile(50);
    public double P99 => Percentile(99);
}

internal sealed record RateResult(double TargetRate, double AchievedRate, double P50, double P99, int Errors, int Sent)
{
    /// <summary>User+system CPU of the arm's processes per request answered, in microseconds (null: nothing to measure).</summary>
    public double? CpuMicrosPerRequest { get; init; }

    public bool Passes(double p99LimitMicros) => Errors == 0 && AchievedRate >= TargetRate * 0.95 && P99 < p99LimitMicros;
}

internal sealed record StreamResult(Samples Ttft, Samples Gaps, int Errors);
