namespace Gateway.RateLimiting;

/// <summary>Evaluates limit plans atomically; the Redis engine across replicas, the memory engine for one instance.</summary>
internal interface ILimitEngine
{
    Task<AdmissionResult> AdmitAsync(LimitPlan plan);

    /// <summary>Moves the reserved tokens and cost to what the request really used, and ends its in-flight lease.</summary>
    Task SettleAsync(LimitPlan plan, AdmissionResult admission, long actualTokens, long actualCostMicros);

    /// <summary>A bare sliding-window slot (provider pacing): admitted, or how long until a slot frees.</summary>
    Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window);
}
