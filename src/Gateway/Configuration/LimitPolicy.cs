namespace Gateway.Configuration;

/// <summary>The limits that apply to one key (and to that key on one model), compiled and immutable.</summary>
internal sealed record LimitSet(long? RequestsPerMinute, long? TokensPerMinute, long? ConcurrentRequests)
{
    public static readonly LimitSet None = new(null, null, null);

    public bool IsEmpty => RequestsPerMinute is null && TokensPerMinute is null && ConcurrentRequests is null;
}

internal enum BudgetPeriod
{
    Day,
    Month,
}

internal sealed record Budget(long LimitMicros, BudgetPeriod Period);

internal sealed record KeyLimits(LimitSet Key, Budget? Budget, IReadOnlyDictionary<string, LimitSet> PerModel)
{
    public static readonly KeyLimits None = new(LimitSet.None, null, new Dictionary<string, LimitSet>());

    /// <summary>The team the key belongs to, whose limits every request of the key must also fit (null: no team).</summary>
    public TeamLimits? Team { get; init; }

    public LimitSet ForModel(string model) => PerModel.GetValueOrDefault(model) ?? LimitSet.None;

    public bool IsEmpty => Key.IsEmpty && Budget is null && PerModel.Count == 0 && (Team is null || Team.Limits.IsEmpty);

    /// <summary>Whether a request on <paramref name="model"/> reserves tokens or money here (key or team): then its completion is capped.</summary>
    public bool LimitsTokensOrMoney(string model) =>
        Budget is not null || Key.TokensPerMinute is not null || ForModel(model).TokensPerMinute is not null ||
        Team?.Limits.LimitsTokensOrMoney(model) == true;
}

/// <summary>
/// A team's own limits and budget (never the gateway's per-key defaults), shared by every key in it; <see cref="Id"/> is
/// the team's identity for its counters, which a team later made under the same name never inherits.
/// </summary>
internal sealed record TeamLimits(string Id, string Name, KeyLimits Limits);

/// <summary>How the limiter behaves, from <c>Limits</c>.</summary>
internal sealed record LimiterSettings(TimeSpan Window, int DefaultMaxTokens, bool FailOpen, TimeSpan DecisionTimeout)
{
    /// <summary>Whether a key with a budget is served when the limits store cannot decide.</summary>
    public bool BudgetFailOpen { get; init; }

    public bool CapMaxTokens { get; init; } = true;

    /// <summary>How many times an admission is asked before the failure policy applies (each waits <see cref="LocalPatience"/>).</summary>
    public int DecisionAttempts { get; init; } = 2;

    /// <summary>
    /// How long this replica waits for an answer it asked for. <see cref="DecisionTimeout"/> is enforced by the limits store
    /// on its own clock (a decision that starts after it takes nothing), so a reply that is merely late to be read here (a
    /// replica short of CPU: compiling at start, a GC pause, a busy host) is still a valid decision and is waited for;
    /// only a store that does not answer at all runs into this patience: four decision timeouts, at least a second.
    /// </summary>
    public TimeSpan LeaseMargin { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan LostReservationGrace { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan LostReservationSweep { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan LocalPatience => TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, DecisionTimeout.Ticks * 4));
}
