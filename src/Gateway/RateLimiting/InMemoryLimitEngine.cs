using Gateway.Configuration;
namespace Gateway.RateLimiting;

/// <summary>
/// The same limits for a single instance without Redis: the algorithm of <see cref="LimitScripts"/>,
/// under one lock, on this process's clock. Reservations are kept the same way, so settlement is exactly-once here too.
/// A sliding window is a ring of its buckets with a running total (<see cref="SlidingWindow"/>), as the script keeps one,
/// so an admission costs the same whether the window holds one bucket or sixty.
/// </summary>
internal sealed class InMemoryLimitEngine(TimeProvider clock) : ILimitEngine
{
    private readonly Lock _gate = new();
    // Provider pacing windows' scope: a control character, so no key's or team's scope can be the same.
    private const string PacerScope = "\u001fpacer";

    // Keyed by (scope, counter id): no string is put together per look-up.
    private readonly Dictionary<(string Scope, string Id), SlidingWindow> _windows = [];
    private readonly Dictionary<(string Scope, string Id), Dictionary<string, long>> _inflight = [];
    private readonly Dictionary<(string Scope, string Id), (long Period, long Spent)> _budgets = [];
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
                var window = Window((plan.Scope, w.Id), bucketMs, nb, current);
                used[i] = window.Total;
                if (rejected < 0 && w.Cost > 0 && used[i] + w.Cost > w.Limit)
                {
                    rejected = i;
                    retry = window.RetryMs(w.Cost, w.Limit, current, now, plan.WindowMs);
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Concurrency.Count; j++)
            {
                var c = plan.Concurrency[j];
                if (Leases((plan.Scope, c.Id), now).Count >= c.Limit)
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
                spent[j] = _budgets.TryGetValue((plan.Scope, budget.Id), out var s) && s.Period == periods[j] ? s.Spent : 0;
                if (rejected < 0 && spent[j] + budget.CostMicros > budget.LimitMicros)
                {
                    rejected = plan.Windows.Count + plan.Concurrency.Count + j;
                    retry = untilNext;
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Budgets.Count; j++)
            {
                _budgets[(plan.Scope, plan.Budgets[j].Id)] = (periods[j], spent[j] + plan.Budgets[j].CostMicros);
            }

            var states = new WindowState[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var window = _windows[(plan.Scope, w.Id)];
                if (rejected < 0 && w.Cost > 0)
                {
                    window.Add(current, w.Cost);
                    used[i] += w.Cost;
                }

                var newest = window.Newest;
                states[i] = new WindowState(w.Limit, Math.Max(0, w.Limit - used[i]),
                    TimeSpan.FromMilliseconds(newest >= 0 ? Math.Max(0, ((newest + nb) * bucketMs) - now) : 0));
            }

            if (rejected < 0)
            {
                var leaseUntil = now + (long)plan.Lease.TotalMilliseconds;
                foreach (var c in plan.Concurrency)
                {
                    Leases((plan.Scope, c.Id), now)[plan.ReservationId] = leaseUntil;
                }

                var reservedTokens = new long?[plan.Windows.Count];
                for (var i = 0; i < reservedTokens.Length; i++)
                {
                    reservedTokens[i] = plan.Windows[i].Kind == LimitKind.Tokens ? plan.Windows[i].Cost : null;
                }

                var costs = new long[plan.Budgets.Count];
                for (var j = 0; j < costs.Length; j++)
                {
                    costs[j] = plan.Budgets[j].CostMicros;
                }

                _reservations[plan.ReservationId] = new Reservation(false, current, periods, costs, reservedTokens, leaseUntil + plan.WindowMs);
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
                // A bucket already swept out of the window is gone, and with it what it counted.
                if (r.ReservedTokens[i] is { } reserved && _windows.TryGetValue((s.Scope, s.Windows[i]), out var window))
                {
                    window.Adjust(r.Bucket, s.ActualTokens - reserved);
                }
            }

            foreach (var c in s.Concurrency)
            {
                if (_inflight.TryGetValue((s.Scope, c), out var leases))
                {
                    leases.Remove(s.ReservationId);
                }
            }

            var budgets = s.BudgetIds;
            for (var j = 0; j < budgets.Count && j < r.Periods.Length; j++)
            {
                if (_budgets.TryGetValue((s.Scope, budgets[j]), out var b) && b.Period == r.Periods[j])
                {
                    _budgets[(s.Scope, budgets[j])] = (b.Period, b.Spent + s.ActualCostMicros - r.CostsMicros[j]);
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
                if (_inflight.TryGetValue((plan.Scope, c.Id), out var leases) && leases.ContainsKey(plan.ReservationId))
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
            var pace = Window((PacerScope, id), bucketMs, nb, current);
            if (pace.Total + 1 <= limit)
            {
                pace.Add(current, 1);
                return Task.FromResult((true, TimeSpan.Zero));
            }

            return Task.FromResult((false, TimeSpan.FromMilliseconds(pace.RetryMs(1, limit, current, now, windowMs))));
        }
    }

    /// <summary>In-flight leases of one counter (for tests: after a storm, nothing may be left behind).</summary>
    internal int InFlight(string scope, string id)
    {
        lock (_gate)
        {
            return _inflight.TryGetValue((scope, id), out var leases) ? leases.Count : 0;
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
        var nb = plan.WindowMs / plan.BucketMs;
        lock (_gate)
        {
            var windows = plan.Windows.Select(w => Window((plan.Scope, w.Id), plan.BucketMs, nb, current).Total).ToList();
            var inflight = plan.Concurrency.Select(c => (long)Leases((plan.Scope, c.Id), now).Count).ToList();
            var spent = plan.Budgets.Select(b => _budgets.TryGetValue((plan.Scope, b.Id), out var s) && s.Period == Period(b.Period, now).Id ? s.Spent : 0)
                .ToList();
            return Task.FromResult(new LimitUsage(windows, inflight, spent));
        }
    }

    /// <summary>The window, with the buckets that left it (older than <paramref name="current"/> - <paramref name="nb"/> + 1) swept out.</summary>
    private SlidingWindow Window((string Scope, string Id) id, long bucketMs, long nb, long current)
    {
        if (!_windows.TryGetValue(id, out var window) || !window.Fits(bucketMs, nb))
        {
            // New, or the window's length changed with a reload: bucket numbers of another length mean nothing here.
            _windows[id] = window = new SlidingWindow(bucketMs, nb, current - nb + 1);
        }

        window.SweepTo(current - nb + 1);
        return window;
    }

    private Dictionary<string, long> Leases((string Scope, string Id) id, long now)
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
