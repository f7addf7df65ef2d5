namespace Gateway.Configuration;

/// <summary>
/// gateway.json <c>Limits</c>: defaults for every key, plus how limits behave. Keys override the
/// defaults field by field under <c>Keys:&lt;name&gt;:Limits</c>, and may add per-model limits.
/// </summary>
public sealed class LimitsOptions
{
    /// <summary>Length of the sliding window the per-minute limits count over (60 unless testing).</summary>
    public double WindowSeconds { get; set; } = 60;

    /// <summary>Completion tokens reserved when a request sets no max_tokens.</summary>
    public int DefaultMaxTokens { get; set; } = 1024;

    /// <summary>When Redis cannot decide a rate limit in time: <c>allow</c> (fail open, the default) or <c>reject</c> (503).</summary>
    public string OnRedisFailure { get; set; } = "allow";

    /// <summary>When Redis cannot decide for a key with a budget: <c>reject</c> (503, the default: money is at stake) or <c>allow</c>.</summary>
    public string BudgetOnRedisFailure { get; set; } = "reject";

    /// <summary>
    /// For keys with a token limit or a budget, a request without <c>max_tokens</c> is sent upstream with
    /// <see cref="DefaultMaxTokens"/>, the amount reserved, so an answer cannot spend more than was admitted.
    /// </summary>
    public bool CapMaxTokens { get; set; } = true;

    /// <summary>
    /// The admission decision's deadline, enforced by Redis on its own clock: a decision that would start later takes
    /// nothing and is asked again (<see cref="DecisionAttempts"/>). The replica itself waits up to four times as long (at
    /// least a second) for a reply, so a reply that is only late to be read on a busy replica still counts.
    /// </summary>
    public int DecisionTimeoutMilliseconds { get; set; } = 250;

    /// <summary>
    /// How many times an admission is asked before the failure policy applies: a second attempt rides out a short stall
    /// (a busy host, a GC pause); a Redis that is down fails both at once, so it costs nothing then.
    /// </summary>
    public int DecisionAttempts { get; set; } = 2;

    /// <summary>
    /// Added to the longest a request may take (provider timeouts, queueing) to make its lease: a running request renews
    /// it; a lease that runs out means the replica holding it is gone.
    /// </summary>
    public double LeaseMarginSeconds { get; set; } = 30;

    /// <summary>How long past its lease an unsettled reservation waits before a surviving replica records it as <c>replica_lost</c>.</summary>
    public double LostReservationGraceSeconds { get; set; } = 30;

    /// <summary>How often each replica looks for reservations whose replica is gone.</summary>
    public double LostReservationSweepSeconds { get; set; } = 15;

    public KeyLimitOptions Default { get; set; } = new();
}

public class ModelLimitOptions
{
    public long? RequestsPerMinute { get; set; }
    public long? TokensPerMinute { get; set; }
    public long? ConcurrentRequests { get; set; }
}

public sealed class KeyLimitOptions : ModelLimitOptions
{
    /// <summary>Spending budget in USD per <see cref="BudgetPeriod"/>.</summary>
    public decimal? BudgetUsd { get; set; }

    /// <summary><c>day</c> or <c>month</c> (UTC, by Redis's clock).</summary>
    public string? BudgetPeriod { get; set; }

    /// <summary>Limits for this key on one public model, on top of the key's own.</summary>
    public Dictionary<string, ModelLimitOptions> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
