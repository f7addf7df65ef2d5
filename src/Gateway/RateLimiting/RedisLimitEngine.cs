using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

/// <summary>Limits shared by every replica: each decision is one Lua call (by SHA) on Redis's clock.</summary>
internal sealed class RedisLimitEngine(RedisStore redis) : ILimitEngine
{
    private static readonly RedisScript AdmitScript = new("ratelimit.admit", LimitScripts.Admit);
    private static readonly RedisScript SettleScript = new("ratelimit.settle", LimitScripts.Settle);
    private static readonly RedisScript AcquireScript = new("ratelimit.acquire", LimitScripts.Acquire);

    public async Task<AdmissionResult> AdmitAsync(LimitPlan plan)
    {
        var keys = new List<RedisKey>();
        var args = new List<RedisValue>
        {
            plan.Windows.Count, plan.Concurrency.Count, plan.Budget is null ? 0 : 1,
            plan.WindowMs, plan.BucketMs, plan.RequestId, (long)plan.Lease.TotalMilliseconds,
        };
        foreach (var w in plan.Windows)
        {
            keys.Add(redis.Key("rl:" + w.Id));
            args.Add(w.Limit);
            args.Add(w.Cost);
        }

        foreach (var c in plan.Concurrency)
        {
            keys.Add(redis.Key("rl:" + c.Id));
            args.Add(c.Limit);
        }

        if (plan.Budget is { } b)
        {
            keys.Add(redis.Key("rl:" + b.Id));
            args.Add(b.LimitMicros);
            args.Add(b.CostMicros);
            args.Add(b.Period == BudgetPeriod.Day ? "day" : "month");
        }

        var r = (RedisResult[])(await redis.EvalAsync(AdmitScript, [.. keys], [.. args]))!;
        var windows = new WindowState[plan.Windows.Count];
        for (var i = 0; i < windows.Length; i++)
        {
            var used = (long)r[5 + 2 * i];
            windows[i] = new WindowState(plan.Windows[i].Limit, Math.Max(0, plan.Windows[i].Limit - used),
                TimeSpan.FromMilliseconds(Math.Max(0, (long)r[6 + 2 * i])));
        }

        return new AdmissionResult((long)r[0] == 1, (int)(long)r[1], TimeSpan.FromMilliseconds(Math.Max(0, (long)r[2])),
            (long)r[3], (long)r[4], windows);
    }

    public async Task SettleAsync(LimitPlan plan, AdmissionResult admission, long actualTokens, long actualCostMicros)
    {
        var tokenWindows = plan.Windows.Where(w => w.Kind == LimitKind.Tokens).ToList();
        var keys = new List<RedisKey>();
        keys.AddRange(tokenWindows.Select(w => (RedisKey)redis.Key("rl:" + w.Id)));
        keys.AddRange(plan.Concurrency.Select(c => (RedisKey)redis.Key("rl:" + c.Id)));
        if (plan.Budget is { } b)
        {
            keys.Add(redis.Key("rl:" + b.Id));
        }

        var reservedTokens = tokenWindows.Count > 0 ? tokenWindows[0].Cost : 0;
        await redis.EvalAsync(SettleScript, [.. keys],
        [
            tokenWindows.Count, plan.Concurrency.Count, plan.Budget is null ? 0 : 1, admission.Bucket,
            actualTokens - reservedTokens, plan.RequestId, admission.Period, actualCostMicros - (plan.Budget?.CostMicros ?? 0),
        ]);
    }

    public async Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window)
    {
        var windowMs = (long)window.TotalMilliseconds;
        var r = (RedisResult[])(await redis.EvalAsync(AcquireScript, [redis.Key("rl:" + id)],
            [limit, windowMs, Math.Max(1, windowMs / LimitPlan.BucketsPerWindow)]))!;
        return ((long)r[0] == 1, TimeSpan.FromMilliseconds((long)r[1]));
    }
}
