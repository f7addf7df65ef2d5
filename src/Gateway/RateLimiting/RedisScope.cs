using System.Collections.Concurrent;
using System.Text;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

/// <summary>
/// One limit scope as this replica addresses it in Redis: the names of its keys, each made once, and when the replica
/// last listed it as active. Every admission and settlement names a handful of its keys: looked up here by the counter's
/// short id, after one lookup of the scope, instead of hashing the scope's long name once per key (it was ~20 hashes a
/// request). Keys are held as UTF-8 bytes (<see cref="RedisStore.ByteKey"/>), which the client copies as they are.
/// A key alone keeps the tag it always had (<c>{k:id}</c>); a team's scope is its own tag (<c>{t:id}</c>).
/// </summary>
internal sealed class RedisScope
{
    private readonly RedisStore _redis;
    private readonly string _scope;
    private readonly ConcurrentDictionary<(string Id, bool Window), RedisKey> _counters = new();
    private readonly byte[] _reservationPrefix;

    public RedisScope(RedisStore redis, string scope)
    {
        (_redis, _scope) = (redis, scope);
        _reservationPrefix = Encoding.UTF8.GetBytes(redis.KeyPrefix + Name(scope, "res:"));
        Open = Counter("open2");
        EarlierOpen = Counter("open");
    }

    /// <summary>
    /// The scope's reservations that may need recovering, scored by lease end. Under a name of its own since record ids
    /// carry their seen-marker bucket (Requests/RecordIds): a replica from before that would record a lost reservation with
    /// a marker key of its own, which the record's own replica, writing the bucket, would not see (counted twice during a
    /// rolling upgrade). So such a replica never sees these; this release still sweeps <see cref="EarlierOpen"/>.
    /// </summary>
    public RedisKey Open { get; }

    /// <summary>The list that replicas before <see cref="Open"/> kept; swept until none of theirs can be left.</summary>
    public RedisKey EarlierOpen { get; }

    /// <summary>When this replica last listed the scope as active (<see cref="Environment.TickCount64"/>), 0 if never.</summary>
    public long NotedAt;

    public static string Name(string scope, string id) =>
        scope.StartsWith("t:", StringComparison.Ordinal) ? "rl:{" + scope + "}:" + id : "rl:{k:" + scope + "}:" + id;

    /// <summary>
    /// A window's hash keeps its running total beside its buckets (LimitScripts): under a name of its own, so a replica
    /// from before that layout (which sums every field) never meets one during a rolling upgrade.
    /// </summary>
    public RedisKey Window(string id) => Counter(id, window: true);

    /// <summary>A concurrency or budget counter (bounded: the limits configured for the scope).</summary>
    public RedisKey Counter(string id, bool window = false) =>
        _counters.GetOrAdd((id, window), static (name, self) => self._redis.ByteKey(Name(self._scope, name.Window ? "w2:" + name.Id : name.Id)), this);

    /// <summary>A reservation's key, new with every request: the scope's part of its name kept as bytes, the id's appended.</summary>
    public RedisKey Reservation(string reservationId)
    {
        var name = new byte[_reservationPrefix.Length + Encoding.UTF8.GetByteCount(reservationId)];
        _reservationPrefix.CopyTo(name, 0);
        Encoding.UTF8.GetBytes(reservationId, name.AsSpan(_reservationPrefix.Length));
        return name;
    }
}
