namespace Gateway.RateLimiting;

/// <summary>Evaluates limit plans atomically; the Redis engine across replicas, the memory engine for one instance.</summary>
internal interface ILimitEngine
{
    /// <summary>
    /// Admits or refuses the plan. <paramref name="giveUpAt"/> is when the gateway stops waiting for the answer:
    /// an engine that only gets to the decision later refuses it, so nothing is taken for a request already answered.
    /// </summary>
    Task<AdmissionResult> AdmitAsync(LimitPlan plan, DateTimeOffset giveUpAt);

    /// <summary>
    /// Applies a settlement: a booked reservation moves to what was really used and its leases end; anything else
    /// (never admitted, already settled) is left alone, and a cancellation also stops a late admission. Idempotent.
    /// </summary>
    Task SettleAsync(Settlement settlement);

    /// <summary>Sends whatever the engine still holds back (settlements waiting to ride on an admission) and waits for it.</summary>
    Task FlushAsync() => Task.CompletedTask;

    /// <summary>Extends the in-flight leases (and the reservation record) of a request still running.</summary>
    Task RenewAsync(LimitPlan plan);

    /// <summary>A bare sliding-window slot (provider pacing): admitted, or how long until a slot frees.</summary>
    Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window);

    /// <summary>What the plan's counters hold now, taking nothing (the dashboard's headroom).</summary>
    Task<LimitUsage> PeekAsync(LimitPlan plan);

    /// <summary>
    /// Claims the reservations of one key whose lease ended more than <paramref name="grace"/> ago without a settlement
    /// (their replica is gone), at most <paramref name="max"/>: each is claimed by exactly one caller, and stays booked at
    /// its reserved figures. An engine without shared state (one process) has none to find.
    /// </summary>
    Task<IReadOnlyList<LostReservation>> ClaimLostAsync(string scope, TimeSpan grace, int max);

    /// <summary>
    /// The scopes that admitted a recoverable reservation within <paramref name="within"/> (the only ones that can hold a
    /// lost one), so a sweep costs what is in use, not what is configured; old entries are dropped as they are read.
    /// </summary>
    Task<IReadOnlyList<string>> ActiveScopesAsync(TimeSpan within);
}

/// <summary>Counters as they stand: per window what it holds, per in-flight limit how many run, per budget what is spent this period.</summary>
internal sealed record LimitUsage(IReadOnlyList<long> WindowsUsed, IReadOnlyList<long> InFlight, IReadOnlyList<long> BudgetsSpentMicros)
{
    public static readonly LimitUsage None = new([], [], []);
}
