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

    // Each scope's counters: a decision looks its scope up once, then each counter by its short id (keyed by (scope, id),
    // the scope's long name was hashed once per counter, twice for a window; bench/instructions.sh).
    private readonly Dictionary<string, ScopeCounters> _scopes = new(StringComparer.Ordinal);
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
            var scope = Scope(plan.Scope);
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
                var window = Window(scope, w.Id, bucketMs, nb, current);
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
                if (Leases(scope, c.Id, now).Count >= c.Limit)
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
                spent[j] = scope.Budgets.TryGetValue(budget.Id, out var s) && s.Period == periods[j] ? s.Spent : 0;
                if (rejected < 0 && spent[j] + budget.CostMicros > budget.LimitMicros)
                {
                    rejected = plan.Windows.Count + plan.Concurrency.Count + j;
                    retry = untilNext;
                }
            }

            for (var j = 0; rejected < 0 && j < plan.Budgets.Count; j++)
            {
                scope.Budgets[plan.Budgets[j].Id] = (periods[j], spent[j] + plan.Budgets[j].CostMicros);
            }

            var states = new WindowState[plan.Windows.Count];
            for (var i = 0; i < plan.Windows.Count; i++)
            {
                var w = plan.Windows[i];
                var window = scope.Windows[w.Id];
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
                    Leases(scope, c.Id, now)[plan.ReservationId] = leaseUntil;
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

            var scope = Scope(s.Scope);
            for (var i = 0; i < s.Windows.Count && i < r.ReservedTokens.Length; i++)
            {
                // A bucket already swept out of the window is gone, and with it what it counted.
                if (r.ReservedTokens[i] is { } reserved && scope.Windows.TryGetValue(s.Windows[i], out var window))
                {
                    window.Adjust(r.Bucket, s.ActualTokens - reserved);
                }
            }

            foreach (var c in s.Concurrency)
            {
                if (scope.Inflight.TryGetValue(c, out var leases))
                {
                    leases.Remove(s.ReservationId);
                }
            }

            var budgets = s.BudgetIds;
            for (var j = 0; j < budgets.Count && j < r.Periods.Length; j++)
            {
                if (scope.Budgets.TryGetValue(budgets[j], out var b) && b.Period == r.Periods[j])
                {
                    scope.Budgets[budgets[j]] = (b.Period, b.Spent + s.ActualCostMicros - r.CostsMicros[j]);
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

            var scope = Scope(plan.Scope);
            foreach (var c in plan.Concurrency)
            {
                if (scope.Inflight.TryGetValue(c.Id, out var leases) && leases.ContainsKey(plan.ReservationId))
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
            var pace = Window(Scope(PacerScope), id, bucketMs, nb, current);
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
            return _scopes.TryGetValue(scope, out var counters) && counters.Inflight.TryGetValue(id, out var leases) ? leases.Count : 0;
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
            var scope = Scope(plan.Scope);
            var windows = plan.Windows.Select(w => Window(scope, w.Id, plan.BucketMs, nb, current).Total).ToList();
            var inflight = plan.Concurrency.Select(c => (long)Leases(scope, c.Id, now).Count).ToList();
            var spent = plan.Budgets.Select(b => scope.Budgets.TryGetValue(b.Id, out var s) && s.Period == Period(b.Period, now).Id ? s.Spent : 0)
                .ToList();
            return Task.FromResult(new LimitUsage(windows, inflight, spent));
        }
    }

    /// <summary>A scope's counters, made on its first use (under the engine's lock).</summary>
    private ScopeCounters Scope(string scope)
    {
        if (!_scopes.TryGetValue(scope, out var counters))
        {
            _scopes[scope] = counters = new ScopeCounters();
        }

        return counters;
    }

    /// <summary>The window, with the buckets that left it (older than <paramref name="current"/> - <paramref name="nb"/> + 1) swept out.</summary>
    private static SlidingWindow Window(ScopeCounters scope, string id, long bucketMs, long nb, long current)
    {
        if (!scope.Windows.TryGetValue(id, out var window) || !window.Fits(bucketMs, nb))
        {
            // New, or the window's length changed with a reload: bucket numbers of another length mean nothing here.
            scope.Windows[id] = window = new SlidingWindow(bucketMs, nb, current - nb + 1);
        }

        window.SweepTo(current - nb + 1);
        return window;
    }

    private static Dictionary<string, long> Leases(ScopeCounters scope, string id, long now)
    {
        if (!scope.Inflight.TryGetValue(id, out var leases))
        {
            scope.Inflight[id] = leases = new Dictionary<string, long>(StringComparer.Ordinal);
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

    /// <summary>One scope's counters, each by its id (bounded like the scopes: valid keys and teams, and their limits).</summary>
    private sealed class ScopeCounters
    {
        public Dictionary<string, SlidingWindow> Windows { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, Dictionary<string, long>> Inflight { get; } = new(StringComparer.Ordinal);
        public Dictionary<string, (long Period, long Spent)> Budgets { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A booked admission: per budget the period it was charged in and what it was charged.</summary>
    private sealed record Reservation(bool Cancelled, long Bucket, long[] Periods, long[] CostsMicros, long?[] ReservedTokens, long ExpiresAt);
}
