using Gateway.Redis;
using StackExchange.Redis;
using Gateway.Configuration;

namespace Gateway.RateLimiting;

/// <summary>
/// Limits shared by every replica: each decision is one Lua call (by SHA) on Redis's clock. Every counter of one
/// plan's scope carries its hash tag: <c>{k:id}</c> for a key alone, <c>{t:id}</c> for a team and the keys in it, so
/// each script touches a single slot and works on Redis Cluster. Admissions and settlements of one scope go together
/// (<see cref="ScopeBatches"/>): one call for all that gathered while the last was in flight, settlements riding on admissions.
/// </summary>
internal sealed class RedisLimitEngine(RedisStore redis, TimeProvider? clock = null) : ILimitEngine, IWarmUp
{
    private readonly ScopeBatches _batches = new(redis, clock ?? TimeProvider.System);

    private static readonly RedisScript RenewScript = new("ratelimit.renew", LimitScripts.Renew);
    private static readonly RedisScript AcquireScript = new("ratelimit.acquire", LimitScripts.Acquire);
    private static readonly RedisScript PeekScript = new("ratelimit.peek", LimitScripts.Peek);
    private static readonly RedisScript LostListScript = new("ratelimit.lost.list", LimitScripts.LostList);
    private static readonly RedisScript LostClaimScript = new("ratelimit.lost.claim", LimitScripts.LostClaim);


    // How often this replica re-notes a scope as active: an admission notes its scope at most this often.
    private static readonly long NoteEveryMs = (long)TimeSpan.FromSeconds(10).TotalMilliseconds;

    // Each scope's keys, made once (they were 8% of the bytes a request allocates in Redis mode), and when this replica
    // last noted it: bounded by the scopes of valid keys (a made-up key never gets here).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, RedisScope> _scopes = new(StringComparer.Ordinal);

    // Redis's clock minus this replica's, learnt from every admission: deadlines are sent in Redis's time.
    private long _clockOffsetMs;
    private bool _clockKnown;

    /// <summary>Scripts loaded before the replica is ready; the first real decision is made by the readiness probe (RateLimiter.ProbeAsync).</summary>
    public Task WarmUpAsync() =>
        redis.PreloadAsync([_batches.BatchScript, RenewScript, AcquireScript, LostListScript, LostClaimScript]);

    public async Task<LimitUsage> PeekAsync(LimitPlan plan)
    {
        var scope = ScopeOf(plan.Scope);
        var keys = plan.Windows.Select(w => scope.Window(w.Id))
            .Concat(plan.Concurrency.Select(c => scope.Counter(c.Id)))
            .Concat(plan.Budgets.Select(b => scope.Counter(b.Id))).ToArray();
        RedisValue[] args = [plan.Windows.Count, plan.Concurrency.Count, plan.Budgets.Count, plan.WindowMs, plan.BucketMs,
            .. plan.Budgets.Select(b => PeriodKind(b.Period))];
        var r = (RedisResult[])(await redis.EvalAsync(PeekScript, keys, args))!;
        var n = plan.Windows.Count;
        var m = plan.Concurrency.Count;
        return new LimitUsage([.. r[..n].Select(x => (long)x)], [.. r[n..(n + m)].Select(x => (long)x)], [.. r[(n + m)..].Select(x => (long)x)]);
    }

    public async Task<AdmissionResult> AdmitAsync(LimitPlan plan, DateTimeOffset giveUpAt)
    {
        // The script's arrays, made at their final size (this runs for every request).
        var recovery = plan.Recovery;
        var (w, c, b) = (plan.Windows.Count, plan.Concurrency.Count, plan.Budgets.Count);
        var keys = new RedisKey[w + c + b + (recovery is null ? 1 : 2)];
        var args = new RedisValue[8 + (3 * w) + c + (3 * b) + (recovery is null ? 0 : 1)];
        var deadline = _clockKnown ? giveUpAt.ToUnixTimeMilliseconds() + Volatile.Read(ref _clockOffsetMs) : 0;
        (args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7]) =
            (w, c, b, plan.WindowMs, plan.BucketMs, plan.ReservationId, (long)plan.Lease.TotalMilliseconds, deadline);
        var (k, a) = (0, 8);
        var scope = ScopeOf(plan.Scope);
        foreach (var window in plan.Windows)
        {
            keys[k++] = scope.Window(window.Id);
            args[a++] = window.Limit;
            args[a++] = window.Cost;
            args[a++] = window.Kind == LimitKind.Tokens ? 1 : 0;
        }

        foreach (var limit in plan.Concurrency)
        {
            keys[k++] = scope.Counter(limit.Id);
            args[a++] = limit.Limit;
        }

        foreach (var budget in plan.Budgets)
        {
            keys[k++] = scope.Counter(budget.Id);
            args[a++] = budget.LimitMicros;
            args[a++] = budget.CostMicros;
            args[a++] = PeriodKind(budget.Period);
        }

        keys[k++] = scope.Reservation(plan.ReservationId);
        if (recovery is not null)
        {
            NoteActive(scope, plan.Scope);
            keys[k] = scope.Open;
            args[a] = recovery.Pack();
        }

        var r = (RedisResult[])(await _batches.AdmitAsync(plan.Scope, keys, args))!;
        LearnClock((long)r[5]);
        var windows = new WindowState[plan.Windows.Count];
        for (var i = 0; i < windows.Length && r.Length > 6; i++)
        {
            var used = (long)r[6 + (2 * i)];
            windows[i] = new WindowState(plan.Windows[i].Limit, Math.Max(0, plan.Windows[i].Limit - used),
                TimeSpan.FromMilliseconds(Math.Max(0, (long)r[7 + (2 * i)])));
        }

        return new AdmissionResult((long)r[0] == 1, (int)(long)r[1], TimeSpan.FromMilliseconds(Math.Max(0, (long)r[2])),
            (long)r[3], (long)r[4], windows);
    }

    public Task SettleAsync(Settlement s)
    {
        var budgets = s.BudgetIds;
        var keys = new RedisKey[s.Windows.Count + s.Concurrency.Count + budgets.Count + (s.Recoverable ? 2 : 1)];
        var k = 0;
        var scope = ScopeOf(s.Scope);
        foreach (var window in s.Windows)
        {
            keys[k++] = scope.Window(window);
        }

        foreach (var limit in s.Concurrency)
        {
            keys[k++] = scope.Counter(limit);
        }

        foreach (var budget in budgets)
        {
            keys[k++] = scope.Counter(budget);
        }

        keys[k++] = scope.Reservation(s.ReservationId);
        if (s.Recoverable)
        {
            keys[k] = scope.Open;
        }

        return _batches.SettleAsync(s.Scope, keys,
        [
            s.Windows.Count, s.Concurrency.Count, budgets.Count, s.ReservationId, s.ActualTokens, s.ActualCostMicros,
            s.Cancel ? 1 : 0, (long)TimeSpan.FromHours(1).TotalMilliseconds,
        ]);
    }

    public Task FlushAsync() => _batches.FlushAsync();

    public Task RenewAsync(LimitPlan plan)
    {
        var scope = ScopeOf(plan.Scope);
        var keys = plan.Concurrency.Select(c => scope.Counter(c.Id)).Append(scope.Reservation(plan.ReservationId));
        var lease = (long)plan.Lease.TotalMilliseconds;
        var record = lease + plan.WindowMs;
        if (plan.Recovery is not null)
        {
            // A long stream keeps its scope listed for the sweep while it runs.
            keys = keys.Append(scope.Open);
            record += (long)LimitPlan.RecoveryHorizon.TotalMilliseconds;
            NoteActive(scope, plan.Scope);
        }

        return redis.EvalAsync(RenewScript, [.. keys], [plan.Concurrency.Count, plan.ReservationId, lease, record]);
    }

    public async Task<IReadOnlyList<LostReservation>> ClaimLostAsync(string scope, TimeSpan grace, int max)
    {
        var claimed = new List<LostReservation>();
        var keys = ScopeOf(scope);
        foreach (var open in (RedisKey[])[keys.Open, keys.EarlierOpen])
        {
            await ClaimLostAsync(scope, keys, open, grace, max, claimed);
        }

        return claimed;
    }

    private async Task ClaimLostAsync(string scope, RedisScope keys, RedisKey open, TimeSpan grace, int max, List<LostReservation> claimed)
    {
        var ids = (RedisResult[])(await redis.EvalAsync(LostListScript, [open], [(long)grace.TotalMilliseconds, max]))!;
        foreach (var id in ids)
        {
            var member = (string)id!;
            var raw = (RedisResult[])(await redis.EvalAsync(LostClaimScript, [open, keys.Reservation(member)], [member]))!;
            var f = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i + 1 < raw.Length; i += 2)
            {
                f[(string)raw[i]!] = (string)raw[i + 1]!;
            }

            if (f.TryGetValue("lost", out var packed) && LostRecord.Unpack(packed) is { } record)
            {
                claimed.Add(new LostReservation(scope, record,
                    DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(f["at"], System.Globalization.CultureInfo.InvariantCulture))));
            }
        }
    }

    public async Task<IReadOnlyList<string>> ActiveScopesAsync(TimeSpan within)
    {
        var since = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - (long)within.TotalMilliseconds;
        var active = ActiveKey();
        await redis.RunAsync("ratelimit.active.trim", db => db.SortedSetRemoveRangeByScoreAsync(active, double.NegativeInfinity, since, Exclude.Stop));
        var scopes = await redis.RunAsync("ratelimit.active.read", db => db.SortedSetRangeByScoreAsync(active, since));
        return [.. scopes.Select(s => (string)s!)];
    }

    /// <summary>
    /// Lists the scope among those a sweep looks at, before the admission that may leave a reservation there is sent: on
    /// the one connection the note goes first, so a replica that dies after sending the admission has sent the note too.
    /// Fire and forget, at most once per scope every ten seconds per replica (the index is one sorted set of its own slot).
    /// </summary>
    private void NoteActive(RedisScope keys, string scope)
    {
        var now = Environment.TickCount64;
        var at = Volatile.Read(ref keys.NotedAt);
        if (at != 0 && now - at < NoteEveryMs)
        {
            return;
        }

        Volatile.Write(ref keys.NotedAt, now);
        _ = redis.RunAsync("ratelimit.active.note", db => db.SortedSetAddAsync(ActiveKey(), scope, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            CommandFlags.FireAndForget));
    }

    private RedisKey ActiveKey() => redis.Key("rl:{scopes}:active");

    public async Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window)
    {
        var windowMs = (long)window.TotalMilliseconds;
        var r = (RedisResult[])(await redis.EvalAsync(AcquireScript, [redis.Key("{p:" + id + "}:rps")],
            [limit, windowMs, Math.Max(1, windowMs / LimitPlan.BucketsPerWindow)]))!;
        return ((long)r[0] == 1, TimeSpan.FromMilliseconds((long)r[1]));
    }

    private RedisScope ScopeOf(string scope) => _scopes.GetOrAdd(scope, static (name, redis) => new RedisScope(redis, name), redis);

    // Sent as bytes: the script compares them as strings, and the client copies bytes as they are.
    private static readonly RedisValue Day = "day"u8.ToArray(), Month = "month"u8.ToArray();

    private static RedisValue PeriodKind(BudgetPeriod period) => period == BudgetPeriod.Day ? Day : Month;

    private void LearnClock(long redisNowMs)
    {
        // A late reply makes a sample too small, never too large: keep the largest recent one, letting it sink
        // 1 ms per admission so that a real clock change is followed and one slow reply moves nothing.
        var sample = redisNowMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var current = Volatile.Read(ref _clockOffsetMs);
        Volatile.Write(ref _clockOffsetMs, _clockKnown ? Math.Max(sample, current - 1) : sample);
        _clockKnown = true;
    }
}
