using System.Globalization;
using Gateway.Configuration;

namespace Gateway.RateLimiting;

internal enum LimitKind
{
    Requests,
    Tokens,
    Concurrency,
    Budget,
}

/// <summary>One sliding-window limit to check: a request count or a token count over the window.</summary>
/// <param name="Team">The team whose limit this is; null for the key's own.</param>
internal sealed record WindowCheck(string Id, LimitKind Kind, long Limit, long Cost, string? Team = null);

/// <summary>A limit on requests in flight at once.</summary>
internal sealed record ConcurrencyCheck(string Id, long Limit, string? Team = null);

/// <summary>A spending budget per calendar period, in micro-dollars.</summary>
internal sealed record BudgetCheck(string Id, long LimitMicros, long CostMicros, BudgetPeriod Period, string? Team = null);

/// <summary>
/// Everything one admission must check, decided all at once: either every counter takes the
/// request or none does. Built from the key's limits (and its team's); evaluated by Redis (Lua) or in memory.
/// Every counter of a plan lives in one <see cref="Scope"/>: the key's own (its identity), or, for a key in a team, the
/// team's (<c>t:</c> and the team's identity), where the key's counters sit beside the team's under names of their own;
/// so on Redis Cluster a key's and its team's counters share a hash slot and one script checks them all.
/// <see cref="ReservationId"/> is the gateway's own, never a caller's id.
/// </summary>
internal sealed record LimitPlan(
    string ReservationId,
    string Scope,
    IReadOnlyList<WindowCheck> Windows,
    IReadOnlyList<ConcurrencyCheck> Concurrency,
    IReadOnlyList<BudgetCheck> Budgets,
    TimeSpan Window,
    TimeSpan Lease)
{
    /// <summary>
    /// What to record if the replica that admitted this request dies before settling it: kept with the reservation, so a
    /// surviving replica can write its usage record (<see cref="LostReservations"/>). Null for plans no request stands behind.
    /// </summary>
    public LostRecord? Recovery { get; init; }

    public bool IsEmpty => Windows.Count == 0 && Concurrency.Count == 0 && Budgets.Count == 0;

    /// <summary>The plan of a cache hit: it counts as a request (and is in flight while it is written), but spends no tokens and no money.</summary>
    public LimitPlan ForCacheHit() => this with { Windows = [.. Windows.Where(w => w.Kind == LimitKind.Requests)], Budgets = [] };

    /// <summary>The scope a team's counters (and its keys') live in: never a key's identity, which starts with a letter and no colon.</summary>
    public static string TeamScope(string teamId) => "t:" + teamId;

    /// <summary>The scope a key's counters live in.</summary>
    public static string ScopeOf(string keyId, KeyLimits limits) => limits.Team is { } team ? TeamScope(team.Id) : keyId;

    /// <summary>A reservation listed for recovery is kept this much longer than its lease and window, for a survivor to find.</summary>
    public static readonly TimeSpan RecoveryHorizon = TimeSpan.FromHours(1);

    /// <summary>Buckets per window: usage is counted per 1/60 of the window.</summary>
    public const int BucketsPerWindow = 60;

    public long WindowMs => (long)Window.TotalMilliseconds;

    public long BucketMs => Math.Max(1, WindowMs / BucketsPerWindow);

    /// <summary>The check an index of <see cref="AdmissionResult.RejectedIndex"/> refers to.</summary>
    public LimitKind KindOf(int index) =>
        index < Windows.Count ? Windows[index].Kind
        : index < Windows.Count + Concurrency.Count ? LimitKind.Concurrency
        : LimitKind.Budget;

    /// <summary>The team whose limit the check at <paramref name="index"/> is (null: the key's own).</summary>
    public string? TeamOf(int index) =>
        index < Windows.Count ? Windows[index].Team
        : index < Windows.Count + Concurrency.Count ? Concurrency[index - Windows.Count].Team
        : Budgets[index - Windows.Count - Concurrency.Count].Team;

    public static LimitPlan Build(string reservationId, string keyId, KeyLimits limits, string model, long tokens, long costMicros,
        LimiterSettings settings, TimeSpan lease, LostRecord? recovery = null)
    {
        var windows = new List<WindowCheck>();
        var concurrency = new List<ConcurrencyCheck>();
        var budgets = new List<BudgetCheck>();
        // In a team's scope the key's own counters are named after the key; alone, the scope is the key's and names stay short.
        var own = limits.Team is null ? "" : "k:" + keyId + ":";
        Add(own, limits, null);
        if (limits.Team is { } team)
        {
            Add("team:", team.Limits, team.Name);
        }

        return new LimitPlan(reservationId, ScopeOf(keyId, limits), windows, concurrency, budgets, settings.Window, lease) { Recovery = recovery };

        void Add(string prefix, KeyLimits of, string? teamName)
        {
            AddSet(prefix, of.Key, teamName);
            AddSet($"{prefix}m:{model}:", of.ForModel(model), teamName);
            if (of.Budget is { } b)
            {
                budgets.Add(new BudgetCheck(prefix + "budget", b.LimitMicros, costMicros, b.Period, teamName));
            }
        }

        void AddSet(string prefix, LimitSet set, string? teamName)
        {
            if (set.RequestsPerMinute is { } rpm)
            {
                windows.Add(new WindowCheck(prefix + "rpm", LimitKind.Requests, rpm, 1, teamName));
            }

            if (set.TokensPerMinute is { } tpm)
            {
                windows.Add(new WindowCheck(prefix + "tpm", LimitKind.Tokens, tpm, tokens, teamName));
            }

            if (set.ConcurrentRequests is { } inflight)
            {
                concurrency.Add(new ConcurrencyCheck(prefix + "inflight", inflight, teamName));
            }
        }
    }
}

/// <summary>The state of one window after the decision, for the x-ratelimit headers.</summary>
internal readonly record struct WindowState(long Limit, long Remaining, TimeSpan Reset);

/// <summary>What an engine decided.</summary>
/// <param name="RejectedIndex">The check that refused (windows, then concurrency, then budgets), or -1.</param>
/// <param name="Bucket">The bucket the request's cost went into; settlement adjusts that bucket.</param>
/// <param name="Period">The period the first budget's cost was booked in.</param>
internal sealed record AdmissionResult(bool Admitted, int RejectedIndex, TimeSpan RetryAfter, long Bucket, long Period,
    IReadOnlyList<WindowState> Windows)
{
    /// <summary>The engine refused because the gateway's deadline for this decision had passed (it was answered already).</summary>
    public const int PastDeadline = -2;

    /// <summary>The engine refused because the reservation was cancelled before the admission ran.</summary>
    public const int Cancelled = -3;
}

/// <summary>
/// How a reservation ends: settled to what the request really used, or cancelled (an admission the gateway gave up
/// on). Carries what an engine needs to find the reservation's counters; the reserved figures are kept by the engine,
/// so applying the same settlement twice changes nothing. Serializable: a settlement Redis cannot take yet waits on disk.
/// </summary>
internal sealed record Settlement(
    string ReservationId,
    string Scope,
    IReadOnlyList<string> Windows,
    IReadOnlyList<string> Concurrency,
    IReadOnlyList<string>? Budgets,
    long ActualTokens,
    long ActualCostMicros,
    bool Cancel)
{
    /// <summary>The reservation is listed among those a surviving replica would record if this one died: the listing ends too.</summary>
    public bool Recoverable { get; init; }

    /// <summary>A settlement kept on disk by a gateway from before teams, which had at most one budget: read, never written.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Budget { get; init; }

    /// <summary>The budgets' counters, in admission order.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<string> BudgetIds => Budgets ?? (Budget is null ? [] : [Budget]);

    public static Settlement For(LimitPlan plan, long actualTokens, long actualCostMicros, bool cancel = false) => new(
        plan.ReservationId, plan.Scope, Ids(plan.Windows, static w => w.Id), Ids(plan.Concurrency, static c => c.Id), Ids(plan.Budgets, static b => b.Id),
        actualTokens, actualCostMicros, cancel) { Recoverable = plan.Recovery is not null };

    // One array per list, filled in a loop: this runs for every request.
    private static string[] Ids<T>(IReadOnlyList<T> checks, Func<T, string> id)
    {
        var ids = new string[checks.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = id(checks[i]);
        }

        return ids;
    }
}

/// <summary>The usage record a reservation stands for, should its replica die: its id, and the reserved (worst-case) figures.</summary>
internal sealed record LostRecord(string RecordId, string RequestId, string KeyName, string Model, long PromptTokens, long CompletionTokens,
    long CostMicros, bool Streamed)
{
    private const char Separator = '\u001f';

    /// <summary>The key's identity; null when it is the reservation's scope (a key without a team, or a record from before teams).</summary>
    public string? KeyId { get; init; }

    /// <summary>The key's team when it was admitted.</summary>
    public string? Team { get; init; }

    /// <summary>One string (one script argument, one hash field): it rides on every admission, so it is kept small.</summary>
    public string Pack()
    {
        var packed = string.Join(Separator, RecordId, Clean(RequestId), Clean(KeyName), Clean(Model), PromptTokens.ToString(CultureInfo.InvariantCulture),
            CompletionTokens.ToString(CultureInfo.InvariantCulture), CostMicros.ToString(CultureInfo.InvariantCulture), Streamed ? "1" : "0");
        return KeyId is null && Team is null ? packed : string.Join(Separator, packed, KeyId ?? "", Team ?? "");
    }

    private static string Clean(string text) => text.Replace(Separator, ' ');

    public static LostRecord? Unpack(string packed)
    {
        var p = packed.Split(Separator);
        return p.Length is 8 or 10 && long.TryParse(p[4], CultureInfo.InvariantCulture, out var prompt)
            && long.TryParse(p[5], CultureInfo.InvariantCulture, out var completion) && long.TryParse(p[6], CultureInfo.InvariantCulture, out var cost)
            ? new LostRecord(p[0], p[1], p[2], p[3], prompt, completion, cost, p[7] == "1")
            {
                KeyId = p.Length == 10 && p[8].Length > 0 ? p[8] : null,
                Team = p.Length == 10 && p[9].Length > 0 ? p[9] : null,
            }
            : null;
    }
}

/// <summary>A reservation claimed by a surviving replica: what to record for it, and when it was admitted.</summary>
internal sealed record LostReservation(string Scope, LostRecord Record, DateTimeOffset AdmittedAt);
