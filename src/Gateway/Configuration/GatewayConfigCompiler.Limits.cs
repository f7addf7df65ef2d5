
namespace Gateway.Configuration;

/// <summary>The <c>Limits</c> part of the compiler: defaults merged into each key, field by field.</summary>
internal static partial class GatewayConfigCompiler
{
    private static LimiterSettings CompileLimiter(LimitsOptions limits, List<string> errors)
    {
        Positive(limits.WindowSeconds, "Limits:WindowSeconds", errors);
        Positive(limits.DefaultMaxTokens, "Limits:DefaultMaxTokens", errors);
        Positive(limits.DecisionTimeoutMilliseconds, "Limits:DecisionTimeoutMilliseconds", errors);
        Positive(limits.DecisionAttempts, "Limits:DecisionAttempts", errors);
        Positive(limits.LeaseMarginSeconds, "Limits:LeaseMarginSeconds", errors);
        Positive(limits.LostReservationGraceSeconds, "Limits:LostReservationGraceSeconds", errors);
        Positive(limits.LostReservationSweepSeconds, "Limits:LostReservationSweepSeconds", errors);
        if (limits.OnRedisFailure is not ("allow" or "reject"))
        {
            errors.Add("Limits:OnRedisFailure: must be 'allow' (fail open) or 'reject' (503).");
        }

        if (limits.BudgetOnRedisFailure is not ("allow" or "reject"))
        {
            errors.Add("Limits:BudgetOnRedisFailure: must be 'reject' (503, the default) or 'allow' (fail open).");
        }

        return new LimiterSettings(TimeSpan.FromSeconds(Math.Max(limits.WindowSeconds, 0.06)), limits.DefaultMaxTokens,
            limits.OnRedisFailure != "reject", TimeSpan.FromMilliseconds(Math.Max(limits.DecisionTimeoutMilliseconds, 1)))
        {
            BudgetFailOpen = limits.BudgetOnRedisFailure == "allow",
            CapMaxTokens = limits.CapMaxTokens,
            DecisionAttempts = Math.Max(limits.DecisionAttempts, 1),
            LeaseMargin = TimeSpan.FromSeconds(Math.Max(limits.LeaseMarginSeconds, 0.1)),
            LostReservationGrace = TimeSpan.FromSeconds(Math.Max(limits.LostReservationGraceSeconds, 0.1)),
            LostReservationSweep = TimeSpan.FromSeconds(Math.Max(limits.LostReservationSweepSeconds, 0.1)),
        };
    }

    /// <summary>The key's limits over the defaults, field by field.</summary>
    /// <summary>A runtime key's limits (<c>/admin/keys</c>), compiled as a configured key's are; problems go to <paramref name="errors"/>.</summary>
    public static KeyLimits CompileRuntimeKeyLimits(KeyLimitOptions? own, GatewaySnapshot snapshot, List<string> errors) =>
        CompileKeyLimits(snapshot.DefaultKeyLimits, own, snapshot.Models, "limits", errors);

    /// <summary>A team's limits (<c>/admin/teams</c>): its own only, never the per-key defaults.</summary>
    public static KeyLimits CompileTeamLimits(KeyLimitOptions? own, GatewaySnapshot snapshot, List<string> errors) =>
        CompileKeyLimits(NoDefaults, own, snapshot.Models, "limits", errors);

    private static readonly KeyLimitOptions NoDefaults = new();

    private static KeyLimits CompileKeyLimits(KeyLimitOptions defaults, KeyLimitOptions? own, IReadOnlyDictionary<string, ModelRoute> models,
        string at, List<string> errors)
    {
        var key = CompileSet(own?.RequestsPerMinute ?? defaults.RequestsPerMinute, own?.TokensPerMinute ?? defaults.TokensPerMinute,
            own?.ConcurrentRequests ?? defaults.ConcurrentRequests, at, errors);
        Budget? budget = null;
        if ((own?.BudgetUsd ?? defaults.BudgetUsd) is { } usd)
        {
            var period = own?.BudgetPeriod ?? defaults.BudgetPeriod ?? "month";
            var micros = ToMicros(usd, $"{at}:BudgetUsd", errors);
            if (period is not ("day" or "month"))
            {
                errors.Add($"{at}:BudgetPeriod: must be 'day' or 'month'.");
            }
            else if (micros is not null)
            {
                budget = new Budget(micros.Value, period == "day" ? BudgetPeriod.Day : BudgetPeriod.Month);
            }
        }

        var perModel = new Dictionary<string, LimitSet>(StringComparer.OrdinalIgnoreCase);
        foreach (var (model, m) in (own?.Models ?? []).Concat(defaults.Models.Where(d => own?.Models.ContainsKey(d.Key) != true)))
        {
            if (!models.ContainsKey(model))
            {
                errors.Add($"{at}:Models:{model}: not a configured model.");
                continue;
            }

            perModel[model] = CompileSet(m.RequestsPerMinute, m.TokensPerMinute, m.ConcurrentRequests, $"{at}:Models:{model}", errors);
        }

        return new KeyLimits(key, budget, perModel);
    }

    private static LimitSet CompileSet(long? rpm, long? tpm, long? concurrent, string at, List<string> errors)
    {
        foreach (var (value, name) in new[] { (rpm, "RequestsPerMinute"), (tpm, "TokensPerMinute"), (concurrent, "ConcurrentRequests") })
        {
            if (value is <= 0)
            {
                errors.Add($"{at}:{name}: must be greater than zero (leave it out for no limit).");
            }
        }

        return new LimitSet(rpm, tpm, concurrent);
    }
}
