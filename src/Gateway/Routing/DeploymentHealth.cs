using System.Collections.Concurrent;
using Gateway.Configuration;

namespace Gateway.Routing;

/// <summary>
/// What this replica knows about one deployment's health: attempts in flight, observed latency, and its circuit. Kept
/// by <see cref="Deployment.Id"/>, so it survives configuration reloads.
/// </summary>
internal sealed class DeploymentHealth(string id)
{
    // Weight of the newest latency sample: a deployment that turns slow loses its traffic within a handful of requests.
    private const double LatencySmoothing = 0.3;

    private readonly Lock _gate = new();
    private int _inFlight;
    private double _latencyMs;
    private long _samples;

    public string Id { get; } = id;

    public CircuitBreaker Circuit { get; } = new();

    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Smoothed time to the first token of successful attempts; null before the first one.</summary>
    public double? LatencyMilliseconds
    {
        get
        {
            lock (_gate)
            {
                return _samples == 0 ? null : _latencyMs;
            }
        }
    }

    public long LatencySamples
    {
        get
        {
            lock (_gate)
            {
                return _samples;
            }
        }
    }

    public void Enter() => Interlocked.Increment(ref _inFlight);

    public void Exit() => Interlocked.Decrement(ref _inFlight);

    public void ObserveLatency(TimeSpan latency)
    {
        lock (_gate)
        {
            _latencyMs = _samples++ == 0 ? latency.TotalMilliseconds : _latencyMs + LatencySmoothing * (latency.TotalMilliseconds - _latencyMs);
        }
    }
}

/// <summary>Every deployment's <see cref="DeploymentHealth"/> on this replica.</summary>
internal sealed class DeploymentHealthRegistry
{
    private readonly ConcurrentDictionary<string, DeploymentHealth> _byId = new(StringComparer.Ordinal);

    public DeploymentHealth For(Deployment deployment) => For(deployment.Id);

    public DeploymentHealth For(string id) => _byId.GetOrAdd(id, static id => new DeploymentHealth(id));

    public DeploymentHealth? Find(string id) => _byId.GetValueOrDefault(id);

    public IEnumerable<DeploymentHealth> All => _byId.Values;
}
