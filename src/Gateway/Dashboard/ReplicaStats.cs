using System.Diagnostics.Metrics;
using Gateway.Telemetry;

namespace Gateway.Dashboard;

/// <summary>
/// The dashboard's view of provider health, read from this replica's own metrics (a <see cref="MeterListener"/> on the
/// gateway's instruments): per provider and per minute, for the last hour, requests, failures (5xx), fallbacks away from
/// it, and time to first token and total time as histograms; and the Hive V2 tasks waiting now. Per replica: a fleet
/// view is Prometheus's job (README, "Telemetry").
/// </summary>
internal sealed class ReplicaStats : IDisposable
{
    public const int Minutes = 60;

    private readonly MeterListener _listener = new();
    private readonly TimeProvider _clock;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ProviderMinute[]> _providers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _waiting = new(StringComparer.Ordinal);

    public ReplicaStats(TimeProvider clock)
    {
        _clock = clock;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == GatewayTelemetry.MeterName && instrument.Name is "gateway.requests" or "gateway.fallbacks"
                    or "gen_ai.server.time_to_first_token" or "gen_ai.server.request.duration" or "gateway.async_tasks.waiting")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>(OnLong);
        _listener.SetMeasurementEventCallback<double>(OnDouble);
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>Per provider over the last <paramref name="minutes"/> minutes, and the tasks waiting now.</summary>
    public (List<ProviderHealth> Providers, Dictionary<string, long> TasksWaiting) Read(int minutes)
    {
        var now = Minute();
        lock (_gate)
        {
            var rows = _providers.Select(p =>
            {
                var sum = new ProviderMinute();
                foreach (var m in p.Value.Where(m => m is not null && now - m.Minute < minutes))
                {
                    sum.Add(m);
                }

                return new ProviderHealth(p.Key, sum.Requests, sum.Failures, sum.Fallbacks,
                    sum.FirstToken.Quantile(0.5), sum.FirstToken.Quantile(0.95), sum.Total.Quantile(0.5), sum.Total.Quantile(0.95));
            }).Where(r => r.Requests > 0 || r.Fallbacks > 0).OrderBy(r => r.Provider, StringComparer.Ordinal).ToList();
            return (rows, new Dictionary<string, long>(_waiting));
        }
    }

    private void OnLong(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        // Requests refused before any provider was chosen say "(none)": they tell nothing about a provider.
        if (Tag(tags, GatewayTelemetry.System) is not string provider || provider == Metering.UsageRecords.None)
        {
            return;
        }

        lock (_gate)
        {
            switch (instrument.Name)
            {
                // A cache hit names the provider that once answered, but says nothing about it now.
                case "gateway.requests" when !Equals(Tag(tags, GatewayTelemetry.Outcome), Requests.UsageRecord.CacheHitOutcome):
                    var minute = Current(provider);
                    minute.Requests += value;
                    minute.Failures += Tag(tags, GatewayTelemetry.StatusCode) is int status && status >= 500 ? value : 0;
                    break;
                case "gateway.fallbacks":
                    Current(provider).Fallbacks += value;
                    break;
                case "gateway.async_tasks.waiting":
                    _waiting[provider] = _waiting.GetValueOrDefault(provider) + value;
                    break;
            }
        }
    }

    private void OnDouble(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        if (Tag(tags, GatewayTelemetry.System) is not string provider)
        {
            return;
        }

        lock (_gate)
        {
            var minute = Current(provider);
            (instrument.Name == "gen_ai.server.time_to_first_token" ? minute.FirstToken : minute.Total).Record(seconds);
        }
    }

    private static object? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name)
            {
                return tag.Value;
            }
        }

        return null;
    }

    private long Minute() => _clock.GetUtcNow().ToUnixTimeSeconds() / 60;

    private ProviderMinute Current(string provider)
    {
        if (!_providers.TryGetValue(provider, out var ring))
        {
            _providers[provider] = ring = new ProviderMinute[Minutes];
        }

        var now = Minute();
        var slot = (int)(now % Minutes);
        if (ring[slot] is not { } minute || minute.Minute != now)
        {
            ring[slot] = minute = new ProviderMinute { Minute = now };
        }

        return minute;
    }

    private sealed class ProviderMinute
    {
        public long Minute { get; init; }
        public long Requests { get; set; }
        public long Failures { get; set; }
        public long Fallbacks { get; set; }
        public LatencyHistogram FirstToken { get; } = new();
        public LatencyHistogram Total { get; } = new();

        public void Add(ProviderMinute other)
        {
            Requests += other.Requests;
            Failures += other.Failures;
            Fallbacks += other.Fallbacks;
            FirstToken.Add(other.FirstToken);
            Total.Add(other.Total);
        }
    }
}

/// <summary>One provider's health over a span of minutes: latencies in seconds, null without samples.</summary>
internal sealed record ProviderHealth(string Provider, long Requests, long Failures, long Fallbacks,
    double? FirstTokenP50, double? FirstTokenP95, double? TotalP50, double? TotalP95);

/// <summary>
/// Latencies in buckets growing by a quarter from 0.5 ms to about 10 minutes: a quantile is the upper bound of the
/// bucket it falls in, so within 25% of the truth, in a fixed 64 longs whatever the traffic.
/// </summary>
internal sealed class LatencyHistogram
{
    private const double Smallest = 0.0005;
    private const double Growth = 1.25;
    private readonly long[] _counts = new long[64];
    private long _total;

    public void Record(double seconds)
    {
        var index = seconds <= Smallest ? 0 : (int)Math.Ceiling(Math.Log(seconds / Smallest, Growth));
        _counts[Math.Clamp(index, 0, _counts.Length - 1)]++;
        _total++;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        _total += other._total;
    }

    public double? Quantile(double q)
    {
        if (_total == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(q * _total);
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
            {
                return Smallest * Math.Pow(Growth, i);
            }
        }

        return Smallest * Math.Pow(Growth, _counts.Length - 1);
    }
}
