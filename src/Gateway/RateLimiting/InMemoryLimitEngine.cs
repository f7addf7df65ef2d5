namespace Gateway.RateLimiting;

/// <summary>
/// The same limits for a single instance without Redis: the algorithm of <see cref="LimitScripts"/>,
/// under one lock, on this process's clock.
/// </summary>
internal sealed class InMemoryLimitEngine(TimeProvider clock) : ILimitEngine
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<long, long>> _windows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, long>> _inflight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Period, long Spent)> _budgets = new(StringComparer.Ordinal);

    public Task<AdmissionResult> AdmitAsync(LimitPlan plan)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var bucketMs = plan.BucketMs;
        var nb = plan.WindowMs / bucketMs;
        var current = now / bucketMs;
        lock (_gate)
        {
            var rejected = -1;
            var retry = 0L;
            var used = new long[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var buckets = Window(w.Id, current - nb + 1);
                used[i] = buckets.Values.Sum();
                if (rejected < 0 && w.Cost > 0 && used[i] + w.Cost > w.Limit)
                {
                    rejected = i;
                    retry = RetryMs(buckets, used[i], w.Cost, w.Limit, nb, bucketMs, now, plan.WindowMs);
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Concurrency.Count; j++)
            {
                var c = plan.Concurrency[j];
                var leases = Leases(c.Id, now);
                if (leases.Count >= c.Limit)
                {
                    rejected = plan.Windows.Count + j;
                    retry = 1000;
                }
            }

            var (periodId, untilNext) = plan.Budget is { } b ? Period(b.Period, now) : (0, 0);
            if (rejected < 0 && plan.Budget is { } budget)
            {
                var spent = _budgets.TryGetValue(budget.Id, out var s) && s.Period == periodId ? s.Spent : 0;
                if (spent + budget.CostMicros > budget.LimitMicros)
                {
                    rejected = plan.Windows.Count + plan.Concurrency.Count;
                    retry = untilNext;
                }
                else
                {
                    _budgets[budget.Id] = (periodId, spent + budget.CostMicros);
                }
            }

            var states = new WindowState[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var buckets = _windows[w.Id];
                if (rejected < 0 && w.Cost > 0)
                {
                    buckets[current] = buckets.GetValueOrDefault(current) + w.Cost;
                    used[i] += w.Cost;
                }

                var newest = buckets.Count > 0 ? buckets.Keys.Max() : -1;
                states[i] = new WindowState(w.Limit, Math.Max(0, w.Limit - used[i]),
                    TimeSpan.FromMilliseconds(newest >= 0 ? Math.Max(0, ((newest + nb) * bucketMs) - now) : 0));
            }

            if (rejected < 0)
            {
                foreach (var c in plan.Concurrency)
                {
                    Leases(c.Id, now)[plan.RequestId] = now + (long)plan.Lease.TotalMilliseconds;
                }
            }

            return Task.FromResult(new AdmissionResult(rejected < 0, rejected, TimeSpan.FromMilliseconds(retry), current, periodId, states));
        }
    }

    public Task SettleAsync(LimitPlan plan, AdmissionResult admission, long actualTokens, long actualCostMicros)
    {
        lock (_gate)
        {
            foreach (var w in plan.Windows.Where(w => w.Kind == LimitKind.Tokens))
            {
                if (_windows.TryGetValue(w.Id, out var buckets) && buckets.TryGetValue(admission.Bucket, out var v))
                {
                    buckets[admission.Bucket] = v + actualTokens - w.Cost;
                }
            }

            foreach (var c in plan.Concurrency)
            {
                if (_inflight.TryGetValue(c.Id, out var leases))
                {
                    leases.Remove(plan.RequestId);
                }
            }

            if (plan.Budget is { } b && _budgets.TryGetValue(b.Id, out var s) && s.Period == admission.Period)
            {
                _budgets[b.Id] = (s.Period, s.Spent + actualCostMicros - b.CostMicros);
            }
        }

        return Task.CompletedTask;
    }

    public Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var windowMs = (long)window.TotalMilliseconds;
        var bucketMs = Math.Max(1, windowMs / LimitPlan.BucketsPerWindow);
        var nb = windowMs / bucketMs;
        var current = now / bucketMs;
        lock (_gate)
        {
            var buckets = Window(id, current - nb + 1);
            var used = buckets.Values.Sum();
            if (used + 1 <= limit)
            {
                buckets[current] = buckets.GetValueOrDefault(current) + 1;
                return Task.FromResult((true, TimeSpan.Zero));
            }

            return Task.FromResult((false, TimeSpan.FromMilliseconds(RetryMs(buckets, used, 1, limit, nb, bucketMs, now, windowMs))));
        }
    }

    /// <summary>The window's buckets with those older than <paramref name="oldest"/> dropped.</summary>
    private SortedDictionary<long, long> Window(string id, long oldest)
    {
        if (!_windows.TryGetValue(id, out var buckets))
        {
            _windows[id] = buckets = [];
        }

        while (buckets.Count > 0 && buckets.Keys.First() < oldest)
        {
            buckets.Remove(buckets.Keys.First());
        }

        return buckets;
    }

    private Dictionary<string, long> Leases(string id, long now)
    {
        if (!_inflight.TryGetValue(id, out var leases))
        {
            _inflight[id] = leases = new Dictionary<string, long>(StringComparer.Ordinal);
        }

        foreach (var (member, expires) in leases.Where(l => l.Value <= now).ToList())
        {
            leases.Remove(member);
        }

        return leases;
    }

    private static long RetryMs(SortedDictionary<long, long> buckets, long used, long cost, long limit, long nb, long bucketMs, long now, long windowMs)
    {
        var freed = 0L;
        foreach (var (bucket, value) in buckets)
        {
            freed += value;
            if (used - freed + cost <= limit)
            {
                return ((bucket + nb) * bucketMs) - now;
            }
        }

        return windowMs;
    }

    private static (long Id, long UntilNextMs) Period(BudgetPeriod period, long now)
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(now);
        if (period == BudgetPeriod.Day)
        {
            var day = now / 86_400_000;
            return (day, ((day + 1) * 86_400_000) - now);
        }

        var next = new DateTimeOffset(at.Year, at.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        return ((at.Year * 12) + at.Month, next.ToUnixTimeMilliseconds() - now);
    }
}
