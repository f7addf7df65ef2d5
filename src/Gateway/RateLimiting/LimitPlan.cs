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
internal sealed record WindowCheck(string Id, LimitKind Kind, long Limit, long Cost);

/// <summary>A limit on requests in flight at once.</summary>
internal sealed record ConcurrencyCheck(string Id, long Limit);

/// <summary>A spending budget per calendar period, in micro-dollars.</summary>
internal sealed record BudgetCheck(string Id, long LimitMicros, long CostMicros, BudgetPeriod Period);

/// <summary>
/// Everything one admission must check, decided all at once: either every counter takes the
/// request or none does. Built from the key's limits; evaluated by Redis (Lua) or in memory.
/// Every counter of a plan belongs to one client key (<see cref="Scope"/>), so on Redis Cluster they
/// share a hash slot. <see cref="ReservationId"/> is the gateway's own, never a caller's id.
/// </summary>
internal sealed record LimitPlan(
    string ReservationId,
    string Scope,
    IReadOnlyList<WindowCheck> Windows,
    IReadOnlyList<ConcurrencyCheck> Concurrency,
    BudgetCheck? Budget,
    TimeSpan Window,
    TimeSpan Lease)
{
    /// <summary>
    /// What to record if the replica that admitted this request dies before settling it: kept with the reservation, so a
    /// surviving replica can write its usage record (<see cref="LostReservations"/>). Null for plans no request stands behind.
    /// </summary>
    public LostRecord? Recovery { get; init; }

    public bool IsEmpty => Windows.Count == 0 && Concurrency.Count == 0 && Budget is null;

    /// <summary>The plan of a cache hit: it counts as a request (and is in flight while it is written), but spends no tokens and no money.</summary>
    public LimitPlan ForCacheHit() => this with { Windows = [.. Windows.Where(w => w.Kind == LimitKind.Requests)], Budget = null };

    /// <summary>Buckets per window: usage is counted per 1/60 of the window.</summary>
    public const int BucketsPerWindow = 60;

    public long WindowMs => (long)Window.TotalMilliseconds;

    public long BucketMs => Math.Max(1, WindowMs / BucketsPerWindow);

    /// <summary>The check an index of <see cref="AdmissionResult.RejectedIndex"/> refers to.</summary>
    public LimitKind KindOf(int index) =>
        index < Windows.Count ? Windows[index].Kind
        : index < Windows.Count + Concurrency.Count ? LimitKind.Concurrency
        : LimitKind.Budget;

    public static LimitPlan Build(string reservationId, string keyId, KeyLimits limits, string model, long tokens, long costMicros,
        LimiterSettings settings, TimeSpan lease, LostRecord? recovery = null)
    {
        var windows = new List<WindowCheck>();
        var concurrency = new List<ConcurrencyCheck>();
        Add("", limits.Key);
        Add($"m:{model}:", limits.ForModel(model));
        var budget = limits.Budget is { } b ? new BudgetCheck("budget", b.LimitMicros, costMicros, b.Period) : null;
        return new LimitPlan(reservationId, keyId, windows, concurrency, budget, settings.Window, lease) { Recovery = recovery };

        void Add(string prefix, LimitSet set)
        {
            if (set.RequestsPerMinute is { } rpm)
            {
                windows.Add(new WindowCheck(prefix + "rpm", LimitKind.Requests, rpm, 1));
            }

            if (set.TokensPerMinute is { } tpm)
            {
                windows.Add(new WindowCheck(prefix + "tpm", LimitKind.Tokens, tpm, tokens));
            }

            if (set.ConcurrentRequests is { } inflight)
            {
                concurrency.Add(new ConcurrencyCheck(prefix + "inflight", inflight));
            }
        }
    }
}

/// <summary>The state of one window after the decision, for the x-ratelimit headers.</summary>
internal readonly record struct WindowState(long Limit, long Remaining, TimeSpan Reset);

/// <summary>What an engine decided.</summary>
/// <param name="RejectedIndex">The check that refused (windows, then concurrency, then budget), or -1.</param>
/// <param name="Bucket">The bucket the request's cost went into; settlement adjusts that bucket.</param>
/// <param name="Period">The budget period the cost was booked in.</param>
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
    string? Budget,
    long ActualTokens,
    long ActualCostMicros,
    bool Cancel)
{
    /// <summary>The reservation is listed among those a surviving replica would record if this one died: the listing ends too.</summary>
    public bool Recoverable { get; init; }

    public static Settlement For(LimitPlan plan, long actualTokens, long actualCostMicros, bool cancel = false) => new(
        plan.ReservationId, plan.Scope, [.. plan.Windows.Select(w => w.Id)], [.. plan.Concurrency.Select(c => c.Id)], plan.Budget?.Id,
        actualTokens, actualCostMicros, cancel) { Recoverable = plan.Recovery is not null };
}

/// <summary>The usage record a reservation stands for, should its replica die: its id, and the reserved (worst-case) figures.</summary>
internal sealed record LostRecord(string RecordId, string RequestId, string KeyName, string Model, long PromptTokens, long CompletionTokens,
    long CostMicros, bool Streamed)
{
    private const char Separator = '\u001f';

    /// <summary>One string (one script argument, one hash field): it rides on every admission, so it is kept small.</summary>
    public string Pack() => string.Join(Separator, RecordId, Clean(RequestId), Clean(KeyName), Clean(Model), PromptTokens.ToString(CultureInfo.InvariantCulture),
        CompletionTokens.ToString(CultureInfo.InvariantCulture), CostMicros.ToString(CultureInfo.InvariantCulture), Streamed ? "1" : "0");

    private static string Clean(string text) => text.Replace(Separator, ' ');

    public static LostRecord? Unpack(string packed)
    {
        var p = packed.Split(Separator);
        return p.Length == 8 && long.TryParse(p[4], CultureInfo.InvariantCulture, out var prompt) && long.TryParse(p[5], CultureInfo.InvariantCulture, out var completion)
            && long.TryParse(p[6], CultureInfo.InvariantCulture, out var cost)
            ? new LostRecord(p[0], p[1], p[2], p[3], prompt, completion, cost, p[7] == "1")
            : null;
    }
}

/// <summary>A reservation claimed by a surviving replica: what to record for it, and when it was admitted.</summary>
internal sealed record LostReservation(string Scope, LostRecord Record, DateTimeOffset AdmittedAt);
