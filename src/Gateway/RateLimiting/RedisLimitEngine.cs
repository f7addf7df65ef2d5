using System.Text;
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

    // The names of a scope's counters, made once: every request of a key names the same few (they were 8% of the bytes a
    // request allocates in Redis mode). Bounded like _noted: the scopes of valid keys, times the limits configured for them.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Scope, string Id, bool Window), RedisKey> _counters = new();

    // The first part of each scope's reservation keys, as bytes; bounded like _counters.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte[]> _reservationNames = new(StringComparer.Ordinal);

    // When this replica last noted each scope (bounded by the scopes of valid keys: a made-up key never gets here).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _noted = new(StringComparer.Ordinal);

    // Redis's clock minus this replica's, learnt from every admission: deadlines are sent in Redis's time.
    private long _clockOffsetMs;
    private bool _clockKnown;

    /// <summary>Scripts loaded before the replica is ready; the first real decision is made by the readiness probe (RateLimiter.ProbeAsync).</summary>
    public Task WarmUpAsync() =>
        redis.PreloadAsync([_batches.BatchScript, RenewScript, AcquireScript, LostListScript, LostClaimScript]);

    public async Task<LimitUsage> PeekAsync(LimitPlan plan)
    {
        var keys = plan.Windows.Select(w => WindowKey(plan.Scope, w.Id))
            .Concat(plan.Concurrency.Select(c => CounterKey(plan.Scope, c.Id)))
            .Concat(plan.Budgets.Select(b => CounterKey(plan.Scope, b.Id))).ToArray();
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
        foreach (var window in plan.Windows)
        {
            keys[k++] = WindowKey(plan.Scope, window.Id);
            args[a++] = window.Limit;
            args[a++] = window.Cost;
            args[a++] = window.Kind == LimitKind.Tokens ? 1 : 0;
        }

        foreach (var limit in plan.Concurrency)
        {
            keys[k++] = CounterKey(plan.Scope, limit.Id);
            args[a++] = limit.Limit;
        }

        foreach (var budget in plan.Budgets)
        {
            keys[k++] = CounterKey(plan.Scope, budget.Id);
            args[a++] = budget.LimitMicros;
            args[a++] = budget.CostMicros;
            args[a++] = PeriodKind(budget.Period);
        }

        keys[k++] = ReservationKey(plan.Scope, plan.ReservationId);
        if (recovery is not null)
        {
            NoteActive(plan.Scope);
            keys[k] = OpenKey(plan.Scope);
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
        foreach (var window in s.Windows)
        {
            keys[k++] = WindowKey(s.Scope, window);
        }

        foreach (var limit in s.Concurrency)
        {
            keys[k++] = CounterKey(s.Scope, limit);
        }

        foreach (var budget in budgets)
        {
            keys[k++] = CounterKey(s.Scope, budget);
        }

        keys[k++] = ReservationKey(s.Scope, s.ReservationId);
        if (s.Recoverable)
        {
            keys[k] = OpenKey(s.Scope);
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
        var keys = plan.Concurrency.Select(c => CounterKey(plan.Scope, c.Id)).Append(ReservationKey(plan.Scope, plan.ReservationId));
        var lease = (long)plan.Lease.TotalMilliseconds;
        var record = lease + plan.WindowMs;
        if (plan.Recovery is not null)
        {
            // A long stream keeps its scope listed for the sweep while it runs.
            keys = keys.Append(OpenKey(plan.Scope));
            record += (long)LimitPlan.RecoveryHorizon.TotalMilliseconds;
            NoteActive(plan.Scope);
        }

        return redis.EvalAsync(RenewScript, [.. keys], [plan.Concurrency.Count, plan.ReservationId, lease, record]);
    }

    public async Task<IReadOnlyList<LostReservation>> ClaimLostAsync(string scope, TimeSpan grace, int max)
    {
        var claimed = new List<LostReservation>();
        foreach (var open in (RedisKey[])[OpenKey(scope), EarlierOpenKey(scope)])
        {
            await ClaimLostAsync(scope, open, grace, max, claimed);
        }

        return claimed;
    }

    private async Task ClaimLostAsync(string scope, RedisKey open, TimeSpan grace, int max, List<LostReservation> claimed)
    {
        var ids = (RedisResult[])(await redis.EvalAsync(LostListScript, [open], [(long)grace.TotalMilliseconds, max]))!;
        foreach (var id in ids)
        {
            var member = (string)id!;
            var raw = (RedisResult[])(await redis.EvalAsync(LostClaimScript, [open, ReservationKey(scope, member)], [member]))!;
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
    private void NoteActive(string scope)
    {
        var now = Environment.TickCount64;
        if (_noted.TryGetValue(scope, out var at) && now - at < NoteEveryMs)
        {
            return;
        }

        _noted[scope] = now;
        _ = redis.RunAsync("ratelimit.active.note", db => db.SortedSetAddAsync(ActiveKey(), scope, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            CommandFlags.FireAndForget));
    }

    private RedisKey ActiveKey() => redis.Key("rl:{scopes}:active");

    /// <summary>
    /// One key's reservations that may need recovering, scored by lease end (same slot as the key's counters). Under a
    /// name of its own since record ids carry their seen-marker bucket (Requests/RecordIds): a replica from before that
    /// would record a lost reservation with a marker key of its own, which the record's own replica, writing the bucket,
    /// would not see (counted twice during a rolling upgrade). So such a replica never sees these; this release still
    /// sweeps the earlier list, whose ids keep their marker key in both releases.
    /// </summary>
    private RedisKey OpenKey(string scope) => CounterKey(scope, "open2");

    /// <summary>The list that replicas before <see cref="OpenKey"/> kept; swept until none of theirs can be left.</summary>
    private RedisKey EarlierOpenKey(string scope) => CounterKey(scope, "open");

    public async Task<(bool Admitted, TimeSpan RetryAfter)> TryAcquireAsync(string id, long limit, TimeSpan window)
    {
        var windowMs = (long)window.TotalMilliseconds;
        var r = (RedisResult[])(await redis.EvalAsync(AcquireScript, [redis.Key("{p:" + id + "}:rps")],
            [limit, windowMs, Math.Max(1, windowMs / LimitPlan.BucketsPerWindow)]))!;
        return ((long)r[0] == 1, TimeSpan.FromMilliseconds((long)r[1]));
    }

    // A key alone keeps the tag it always had ({k:id}); a team's scope is its own tag ({t:id}).
    private static string Name(string scope, string id) =>
        scope.StartsWith("t:", StringComparison.Ordinal) ? "rl:{" + scope + "}:" + id : "rl:{k:" + scope + "}:" + id;

    // A window's hash keeps its running total beside its buckets (LimitScripts): under a name of its own, so a replica from
    // before that layout (which sums every field) never meets one during a rolling upgrade; the two count apart meanwhile.
    private RedisKey WindowKey(string scope, string id) => CounterKey(scope, id, window: true);

    // Kept as their UTF-8 bytes (RedisStore.ByteKey): they go with every admission and settlement.
    private RedisKey CounterKey(string scope, string id, bool window = false) =>
        _counters.GetOrAdd((scope, id, window), static (name, self) => self.NewCounterKey(name.Scope, name.Window ? "w2:" + name.Id : name.Id), this);

    private RedisKey NewCounterKey(string scope, string id) => redis.ByteKey(Name(scope, id));

    // The values are sent as bytes too: the script compares them as strings.
    private static readonly RedisValue Day = "day"u8.ToArray(), Month = "month"u8.ToArray();

    private static RedisValue PeriodKind(BudgetPeriod period) => period == BudgetPeriod.Day ? Day : Month;

    /// <summary>
    /// A reservation's key, new with every request: the scope's part of the name is kept as bytes
    /// (<see cref="_reservationNames"/>) and the id's appended, so the key goes out as bytes like the counters'.
    /// </summary>
    private RedisKey ReservationKey(string scope, string reservationId)
    {
        var prefix = _reservationNames.GetOrAdd(scope, static (s, prefix) => Encoding.UTF8.GetBytes(prefix + Name(s, "res:")), redis.KeyPrefix);
        var name = new byte[prefix.Length + Encoding.UTF8.GetByteCount(reservationId)];
        prefix.CopyTo(name, 0);
        Encoding.UTF8.GetBytes(reservationId, name.AsSpan(prefix.Length));
        return name;
    }

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
