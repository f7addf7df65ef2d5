using Gateway.Errors;
using Gateway.Configuration;

namespace Gateway.Caching;

/// <summary>What the cache did for a request, as <c>x-gateway-cache</c> says it.</summary>
internal enum CacheStatus
{
    /// <summary>Not looked up and not stored: the cache is off here, the client said no-store, or the request is not repeatable.</summary>
    Bypass,

    /// <summary>Not found: the provider's answer is stored (if it ends cleanly).</summary>
    Miss,

    /// <summary>Answered from the cache, or by an identical request's provider call (coalesced).</summary>
    Hit,

    /// <summary>Not looked up (<c>Cache-Control: no-cache</c>): the provider's answer replaces the stored one.</summary>
    Refresh,
}

/// <summary>One request's dealings with the cache, from the lookup to storing its answer.</summary>
internal sealed class CacheTicket
{
    public static readonly CacheTicket Off = Bypassed("off");

    private CacheTicket(CacheStatus status)
    {
        Status = status;
    }

    public CacheStatus Status { get; private set; }

    /// <summary>Why the cache was bypassed: <c>off</c>, <c>no_store</c>, <c>n_above_1</c>, <c>sampled_without_seed</c>, <c>tools</c>,
    /// <c>refresh_needs_admin</c> (no-cache on a shared entry from a key that is not an admin).</summary>
    public string? BypassReason { get; private init; }

    /// <summary>A header the client got wrong (a 400 before anything else happens).</summary>
    public GatewayError? Error { get; private init; }

    public string? Hash { get; private init; }
    public CachePolicy? Policy { get; private init; }

    /// <summary>How long this request's answer is kept (the policy's TTL, or less if the client asked).</summary>
    public TimeSpan Ttl { get; private init; }

    /// <summary>The answer served: found in the cache, or landed by the identical request this one waited for.</summary>
    public CachedAnswer? Answer { get; private set; }

    /// <summary>True when the answer came from an identical request in flight rather than from the cache.</summary>
    public bool Coalesced { get; private set; }

    /// <summary>Set while this request leads its kind: the others here wait on it.</summary>
    internal ResponseCache.Flight? Flight { get; set; }

    /// <summary>The answer was stored (and the flight landed) as soon as it was whole; the end of the request has nothing left to do.</summary>
    internal bool Settled { get; set; }

    /// <summary>An answer was found, or landed by an identical request: this request needs no provider.</summary>
    public bool HasAnswer => Answer is not null;

    /// <summary>The value of <c>x-gateway-cache</c>.</summary>
    public string HeaderValue => Status switch
    {
        CacheStatus.Hit => "hit",
        CacheStatus.Miss => "miss",
        CacheStatus.Refresh => "refresh",
        _ => "bypass",
    };

    public static CacheTicket Bypassed(string reason) => new(CacheStatus.Bypass) { BypassReason = reason };

    public static CacheTicket Invalid(GatewayError error) => new(CacheStatus.Bypass) { BypassReason = "invalid_header", Error = error };

    public static CacheTicket ToStore(CacheStatus status, string hash, CachePolicy policy, TimeSpan ttl, bool lookUp = false) =>
        new(status) { Hash = hash, Policy = policy, Ttl = ttl, ToLookUp = lookUp };

    /// <summary>The answer is to be looked up (<see cref="ResponseCache.FindAsync"/>): until then the request counts as a miss.</summary>
    public bool ToLookUp { get; private init; }

    /// <summary>The lookup found the answer; the request becomes a hit once it is served from it (not if it is refused first).</summary>
    public void Found(CachedAnswer answer) => Answer = answer;

    /// <summary>The answer is being served from the cache.</summary>
    public void Serving() => Status = CacheStatus.Hit;

    /// <summary>Keeps what this request's client is sent, when its answer is to be stored; null otherwise.</summary>
    public AnswerRecorder? Recorder { get; private set; }

    /// <summary>This request calls the provider: what its client receives is recorded, to be stored when it ends cleanly.</summary>
    public AnswerRecorder Record() => Recorder = new AnswerRecorder();

    /// <summary>An identical request's answer serves this one.</summary>
    public void ServedBy(CachedAnswer answer)
    {
        Answer = answer;
        Coalesced = true;
    }
}
