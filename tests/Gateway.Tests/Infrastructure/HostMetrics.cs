using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The measurements of one gateway host's own instruments (those of its <see cref="IMeterFactory"/>). The Prometheus
/// scrape of an in-process host is not enough when many hosts share the test process: OpenTelemetry merges same-named
/// instruments of every host into one stream, and drops it when the first of those hosts stops.
/// </summary>
public sealed class HostMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, string?> Tags)> _measurements = new();

    public HostMetrics(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    /// <summary>Sum of a counter's measurements whose tags include all of <paramref name="tags"/>.</summary>
    public double Sum(string instrument, params (string Tag, string Value)[] tags) =>
        _measurements.Where(m => m.Instrument == instrument && Matches(m.Tags, tags)).Sum(m => m.Value);

    /// <summary>The current value of an observable gauge for the tags given.</summary>
    public double? Gauge(string instrument, params (string Tag, string Value)[] tags)
    {
        _listener.RecordObservableInstruments();
        return _measurements.Where(m => m.Instrument == instrument && Matches(m.Tags, tags)).Select(m => (double?)m.Value).LastOrDefault();
    }

    public void Dispose() => _listener.Dispose();

    private void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var copy = new Dictionary<string, string?>();
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value?.ToString();
        }

        _measurements.Enqueue((instrument.Name, value, copy));
    }

    private static bool Matches(Dictionary<string, string?> actual, (string Tag, string Value)[] wanted) =>
        wanted.All(w => actual.TryGetValue(w.Tag, out var v) && v == w.Value);
}
