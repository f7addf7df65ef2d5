using Gateway.Configuration;
namespace Gateway.RateLimiting;

/// <summary>
/// The same limits for a single instance without Redis: the algorithm of <see cref="LimitScripts"/>,
/// under one lock, on this process's clock. Reservations are kept the same way, so settlement is exactly-once here too.
/// </summary>
internal sealed class InMemoryLimitEngine(TimeProvider clock) : ILimitEngine
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SortedDictionary<long, long>> _windows = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, long>> _inflight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Period, long Spent)> _budgets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Reservation> _reservations = new(StringComparer.Ordinal);
    private long _nextSweep;

    public Task<AdmissionResult> AdmitAsync(LimitPlan plan, DateTimeOffset giveUpAt)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var bucketMs = plan.BucketMs;
        var nb = plan.WindowMs / bucketMs;
        var current = now / bucketMs;
        lock (_gate)
        {
            SweepReservations(now);
            if (_reservations.ContainsKey(plan.ReservationId))
            {
                return Task.FromResult(new AdmissionResult(false, AdmissionResult.Cancelled, TimeSpan.Zero, current, 0, []));
            }

            var rejected = -1;
            var retry = 0L;
            var used = new long[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var buckets = Window(Id(plan.Scope, w.Id), current - nb + 1);
                used[i] = Sum(buckets);
                if (rejected < 0 && w.Cost > 0 && used[i] + w.Cost > w.Limit)
                {
                    rejected = i;
                    retry = RetryMs(buckets, used[i], w.Cost, w.Limit, nb, bucketMs, now, plan.WindowMs);
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Concurrency.Count; j++)
            {
                var c = plan.Concurrency[j];
                if (Leases(Id(plan.Scope, c.Id), now).Count >= c.Limit)
                {
                    rejected = plan.Windows.Count + j;
                    retry = 1000;
                }
            }

            // Every budget (the key's, its team's) is checked before any is charged.
            var periods = new long[plan.Budgets.Count];
            var spent = new long[plan.Budgets.Count];
            for (var j = 0; j < plan.Budgets.Count; j++)
            {
                var budget = plan.Budgets[j];
                (periods[j], var untilNext) = Period(budget.Period, now);
                spent[j] = _budgets.TryGetValue(Id(plan.Scope, budget.Id), out var s) && s.Period == periods[j] ? s.Spent : 0;
                if (rejected < 0 && spent[j] + budget.CostMicros > budget.LimitMicros)
                {
                    rejected = plan.Windows.Count + plan.Concurrency.Count + j;
                    retry = untilNext;
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Budgets.Count; j++)
            {
                _budgets[Id(plan.Scope, plan.Budgets[j].Id)] = (periods[j], spent[j] + plan.Budgets[j].CostMicros);
            }

            var states = new WindowState[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var buckets = _windows[Id(plan.Scope, w.Id)];
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
                var leaseUntil = now + (long)plan.Lease.TotalMilliseconds;
                foreach (var c in plan.Concurrency)
                {
                    Leases(Id(plan.Scope, c.Id), now)[plan.ReservationId] = leaseUntil;
                }

                var reservedTokens = plan.Windows.Select(w => w.Kind == LimitKind.Tokens ? w.Cost : (long?)null).ToArray();
                _reservations[plan.ReservationId] = new Reservation(false, current, periods, [.. plan.Budgets.Select(b => b.CostMicros)], reservedTokens,
                    leaseUntil + plan.WindowMs);
            }

            return Task.FromResult(new AdmissionResult(rejected < 0, rejected, TimeSpan.FromMilliseconds(retry), current,
                periods.Length > 0 ? periods[0] : 0, states));
        }
    }

    public Task SettleAsync(Settlement s)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        lock (_gate)
        {
            if (!_reservations.TryGetValue(s.ReservationId, out var r) || r.Cancelled)
            {
                if (s.Cancel && r is null)
                {
                    _reservations[s.ReservationId] = new Reservation(true, 0, [], [], [], now + (long)TimeSpan.FromHours(1).TotalMilliseconds);
                }

                return Task.CompletedTask;
            }

            for (var i = 0; i < s.Windows.Count && i < r.ReservedTokens.Length; i++)
            {
                if (r.ReservedTokens[i] is { } reserved && _windows.TryGetValue(Id(s.Scope, s.Windows[i]), out var buckets)
                    && buckets.TryGetValue(r.Bucket, out var v))
                {
                    buckets[r.Bucket] = v + s.ActualTokens - reserved;
                }
            }

            foreach (var c in s.Concurrency)
            {
                if (_inflight.TryGetValue(Id(s.Scope, c), out var leases))
                {
                    leases.Remove(s.ReservationId);
                }
            }

            var budgets = s.BudgetIds;
            for (var j = 0; j < budgets.Count && j < r.Periods.Length; j++)
            {
                if (_budgets.TryGetValue(Id(s.Scope, budgets[j]), out var b) && b.Period == r.Periods[j])
                {
                    _budgets[Id(s.Scope, budgets[j])] = (b.Period, b.Spent + s.ActualCostMicros - r.CostsMicros[j]);
                }
            }

            _reservations.Remove(s.ReservationId);
        }

        return Task.CompletedTask;
    }

    public Task RenewAsync(LimitPlan plan)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var leaseUntil = now + (long)plan.Lease.TotalMilliseconds;
        lock (_gate)
        {
            if (!_reservations.TryGetValue(plan.ReservationId, out var r) || r.Cancelled)
            {
                return Task.CompletedTask;
            }

            foreach (var c in plan.Concurrency)
            {
                if (_inflight.TryGetValue(Id(plan.Scope, c.Id), out var leases) && leases.ContainsKey(plan.ReservationId))
                {
                    leases[plan.ReservationId] = leaseUntil;
                }
            }

            _reservations[plan.ReservationId] = r with { ExpiresAt = leaseUntil + plan.WindowMs };
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
            var buckets = Window("p:" + id, current - nb + 1);
            var used = Sum(buckets);
            if (used + 1 <= limit)
            {
                buckets[current] = buckets.GetValueOrDefault(current) + 1;
                return Task.FromResult((true, TimeSpan.Zero));
            }

            return Task.FromResult((false, TimeSpan.FromMilliseconds(RetryMs(buckets, used, 1, limit, nb, bucketMs, now, windowMs))));
        }
    }

    /// <summary>In-flight leases of one counter (for tests: after a storm, nothing may be left behind).</summary>
    internal int InFlight(string scope, string id)
    {
        lock (_gate)
        {
            return _inflight.TryGetValue(Id(scope, id), out var leases) ? leases.Count : 0;
        }
    }

    /// <summary>One process: its reservations die with it, counters and all.</summary>
    public Task<IReadOnlyList<LostReservation>> ClaimLostAsync(string scope, TimeSpan grace, int max) =>
        Task.FromResult<IReadOnlyList<LostReservation>>([]);

    /// <summary>One process: nothing to recover, so nothing to look at.</summary>
    public Task<IReadOnlyList<string>> ActiveScopesAsync(TimeSpan within) => Task.FromResult<IReadOnlyList<string>>([]);

    public Task<LimitUsage> PeekAsync(LimitPlan plan)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var current = now / plan.BucketMs;
        var oldest = current - (plan.WindowMs / plan.BucketMs) + 1;
        lock (_gate)
        {
            var windows = plan.Windows.Select(w => Sum(Window(Id(plan.Scope, w.Id), oldest))).ToList();
            var inflight = plan.Concurrency.Select(c => (long)Leases(Id(plan.Scope, c.Id), now).Count).ToList();
            var spent = plan.Budgets.Select(b => _budgets.TryGetValue(Id(plan.Scope, b.Id), out var s) && s.Period == Period(b.Period, now).Id ? s.Spent : 0)
                .ToList();
            return Task.FromResult(new LimitUsage(windows, inflight, spent));
        }
    }

    private static string Id(string scope, string id) => scope + "\u001f" + id;

    private static long Sum(SortedDictionary<long, long> buckets)
    {
        var sum = 0L;
        foreach (var v in buckets.Values)
        {
            sum += v;
        }

        return sum;
    }

    /// <summary>The window's buckets with those older than <paramref name="oldest"/> dropped.</summary>
    private SortedDictionary<long, long> Window(string id, long oldest)
    {
        if (!_windows.TryGetValue(id, out var buckets))
        {
            _windows[id] = buckets = [];
        }

        while (buckets.Count > 0 && buckets.First().Key < oldest)
        {
            buckets.Remove(buckets.First().Key);
        }

        return buckets;
    }

    private Dictionary<string, long> Leases(string id, long now)
    {
        if (!_inflight.TryGetValue(id, out var leases))
        {
            _inflight[id] = leases = new Dictionary<string, long>(StringComparer.Ordinal);
        }

        List<string>? expired = null;
        foreach (var (member, expires) in leases)
        {
            if (expires <= now)
            {
                (expired ??= []).Add(member);
            }
        }

        foreach (var member in expired ?? [])
        {
            leases.Remove(member);
        }

        return leases;
    }

    private void SweepReservations(long now)
    {
        // Bounded: a reservation lives until settled, or until its lease and window have passed (a lost settlement).
        if (now < _nextSweep)
        {
            return;
        }

        _nextSweep = now + 1000;
        foreach (var id in _reservations.Where(r => r.Value.ExpiresAt <= now).Select(r => r.Key).ToList())
        {
            _reservations.Remove(id);
        }
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

    /// <summary>A booked admission: per budget the period it was charged in and what it was charged.</summary>
    private sealed record Reservation(bool Cancelled, long Bucket, long[] Periods, long[] CostsMicros, long?[] ReservedTokens, long ExpiresAt);
}
