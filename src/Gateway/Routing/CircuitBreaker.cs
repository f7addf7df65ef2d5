using Gateway.Configuration;
namespace Gateway.Routing;

internal enum CircuitState
{
    /// <summary>Attempts go through.</summary>
    Closed,

    /// <summary>Skipped until the cool-down is over.</summary>
    Open,

    /// <summary>The cool-down is over and one probe is (or may be) on its way; its outcome closes or re-opens the circuit.</summary>
    HalfOpen,
}

/// <summary>A change other replicas should hear about: opened for a cool-down, or closed again.</summary>
internal readonly record struct CircuitChange(bool Opened, TimeSpan BreakFor);

/// <summary>What the admin endpoint and the metrics show of one circuit.</summary>
internal readonly record struct CircuitView(CircuitState State, int ConsecutiveFailures, DateTimeOffset? OpenUntil, int Trips);

/// <summary>
/// The circuit of one deployment: <see cref="RoutingSettings.FailureThreshold"/> consecutive failed attempts, made by at
/// least <see cref="RoutingSettings.CircuitMinKeys"/> different client keys, open it for
/// a cool-down; after it, one probe is let through: success closes the circuit, failure opens it again for twice as
/// long (up to the maximum). A state machine only: the caller reports every attempt it let in, and shares the changes
/// it gets back with the other replicas.
/// </summary>
internal sealed class CircuitBreaker
{
    private readonly Lock _gate = new();
    private CircuitState _state = CircuitState.Closed;
    private int _failures;
    private int _trips;
    private DateTimeOffset _openUntil;
    private bool _probing;

    // The keys among the current run of consecutive failures (at most as many as the settings ask for): one key's
    // traffic, however it fails, is not evidence enough to take a shared deployment away from every other key.
    private readonly List<string> _failingKeys = [];

    public CircuitView View(DateTimeOffset now)
    {
        lock (_gate)
        {
            var state = _state == CircuitState.Open && now >= _openUntil ? CircuitState.HalfOpen : _state;
            return new CircuitView(state, _failures, _state == CircuitState.Closed ? null : _openUntil, _trips);
        }
    }

    /// <summary>Would an attempt be let in now (without claiming the probe)? Routing puts deployments that would not last.</summary>
    public bool IsAvailable(DateTimeOffset now)
    {
        lock (_gate)
        {
            return _state switch
            {
                CircuitState.Closed => true,
                CircuitState.Open => now >= _openUntil,
                _ => !_probing,
            };
        }
    }

    /// <summary>May an attempt go to this deployment now? After the cool-down the first caller becomes the probe.</summary>
    public bool TryEnter(DateTimeOffset now, out bool probe)
    {
        lock (_gate)
        {
            probe = false;
            if (_state == CircuitState.Closed)
            {
                return true;
            }

            if (_state == CircuitState.Open && now < _openUntil)
            {
                return false;
            }

            if (_probing)
            {
                return false;
            }

            _state = CircuitState.HalfOpen;
            _probing = probe = true;
            return true;
        }
    }

    /// <summary>A successful attempt: the circuit closes (a change to share when it was not closed).</summary>
    public CircuitChange? OnSuccess(bool probe)
    {
        lock (_gate)
        {
            ReleaseProbe(probe);
            _failures = 0;
            _failingKeys.Clear();
            if (_state == CircuitState.Closed)
            {
                return null;
            }

            _state = CircuitState.Closed;
            _trips = 0;
            return new CircuitChange(false, TimeSpan.Zero);
        }
    }

    /// <summary>A failed attempt: the failure that reaches the threshold, or a failed probe, opens the circuit.</summary>
    /// <param name="keyId">The identity of the client key whose request failed.</param>
    public CircuitChange? OnFailure(bool probe, DateTimeOffset now, RoutingSettings settings, string keyId)
    {
        lock (_gate)
        {
            ReleaseProbe(probe);
            _failures++;
            if (_failingKeys.Count < settings.CircuitMinKeys && !_failingKeys.Contains(keyId))
            {
                _failingKeys.Add(keyId);
            }

            var trip = _state == CircuitState.HalfOpen
                ? probe
                : _state == CircuitState.Closed && _failures >= settings.FailureThreshold && _failingKeys.Count >= settings.CircuitMinKeys;
            if (!trip)
            {
                return null;
            }

            _trips++;
            var breakFor = TimeSpan.FromTicks(Math.Min(settings.MaxBreakDuration.Ticks,
                settings.BreakDuration.Ticks * (1L << Math.Min(_trips - 1, 20))));
            _state = CircuitState.Open;
            _openUntil = now + breakFor;
            return new CircuitChange(true, breakFor);
        }
    }

    /// <summary>An attempt that says nothing about the deployment's health (the client left, a 429, a refusal of the request).</summary>
    public void OnNeutral(bool probe)
    {
        lock (_gate)
        {
            ReleaseProbe(probe);
        }
    }

    /// <summary>Another replica opened this circuit: skip the deployment here too, for what is left of the cool-down.</summary>
    public void OpenedElsewhere(DateTimeOffset now, TimeSpan breakFor)
    {
        lock (_gate)
        {
            if (_state == CircuitState.Open && _openUntil >= now + breakFor)
            {
                return;
            }

            _state = CircuitState.Open;
            _openUntil = now + breakFor;
            _trips = Math.Max(_trips, 1);
        }
    }

    /// <summary>Another replica's probe succeeded: the deployment is healthy again.</summary>
    public void ClosedElsewhere()
    {
        lock (_gate)
        {
            _state = CircuitState.Closed;
            _failures = 0;
            _failingKeys.Clear();
            _trips = 0;
        }
    }

    private void ReleaseProbe(bool probe)
    {
        if (probe)
        {
            _probing = false;
        }
    }
}
