using System.Globalization;
using System.Text.Json;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.Keys;

/// <summary>
/// Runtime keys in Redis, for the fleet: one hash of records by name, one of names by prefix, one of teams by name, a
/// version counter and a capped audit stream, all under one hash tag (one slot on a Cluster, so a change is one atomic script). Every change
/// is announced on a channel with the version it made; a replica that misses an announcement sees the version move
/// (<see cref="RuntimeKeys"/> looks every second) and reloads.
/// </summary>
internal sealed class RedisKeyStore : IKeyStore, IWarmUp
{
    private static readonly RedisScript Save = new("keys.save", """
        -- KEYS: records, prefixes, version, audit. ARGV: name, record json, expected revision, prefix, audit json.
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        local revision = 0
        if current then revision = tonumber(cjson.decode(current)['revision']) end
        if revision ~= tonumber(ARGV[3]) then return -1 end
        if revision == 0 and redis.call('HEXISTS', KEYS[2], ARGV[4]) == 1 then return -2 end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('HSET', KEYS[2], ARGV[4], ARGV[1])
        local version = redis.call('INCR', KEYS[3])
        redis.call('XADD', KEYS[4], 'MAXLEN', '~', '10000', '*', 'entry', ARGV[5])
        return version
        """);

    private static readonly RedisScript SaveTeam = new("keys.team.save", """
        -- KEYS: teams, version, audit. ARGV: name, team json ('' removes it), expected revision, audit json.
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        local revision = 0
        if current then revision = tonumber(cjson.decode(current)['revision']) end
        if revision ~= tonumber(ARGV[3]) then return -1 end
        if ARGV[2] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
        local version = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'entry', ARGV[4])
        return version
        """);

    private readonly RedisStore _redis;
    private readonly RedisKey _teams;
    private readonly RedisKey[] _keys;
    private readonly string _channel;
    private readonly ChannelSubscription _announcements;

    public RedisKeyStore(RedisStore redis)
    {
        _redis = redis;
        _keys = [redis.Key("{keys}:records"), redis.Key("{keys}:prefixes"), redis.Key("{keys}:version"), redis.Key("{keys}:audit")];
        _teams = redis.Key("{keys}:teams");
        _channel = redis.Key("keys:changed");
        _announcements = new ChannelSubscription(redis, _channel, OnAnnounced);
    }

    public event Action<KeyChange>? Changed;

    public Task ListenAsync() => _announcements.EnsureAsync();

    public Task WarmUpAsync() => Task.WhenAll(_announcements.EnsureAsync(), _redis.PreloadAsync([Save, SaveTeam]));

    public async Task<IReadOnlyList<RuntimeKeyRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var entries = await _redis.RunAsync("keys.list", db => db.HashGetAllAsync(_keys[0]));
        return [.. entries.Select(e => Read(e.Value))];
    }

    public async Task<RuntimeKeyRecord?> GetAsync(string name, CancellationToken cancellationToken)
    {
        var value = await _redis.RunAsync("keys.get", db => db.HashGetAsync(_keys[0], name));
        return value.IsNull ? null : Read(value);
    }

    public async Task<long> VersionAsync(CancellationToken cancellationToken)
    {
        var value = await _redis.RunAsync("keys.version", db => db.StringGetAsync(_keys[2]));
        return value.IsNull ? 0 : (long)value;
    }

    public async Task<bool> SaveAsync(RuntimeKeyRecord record, long expectedRevision, KeyAuditEntry audit, CancellationToken cancellationToken)
    {
        var result = (long)await _redis.EvalAsync(Save, _keys,
        [
            record.Name, JsonSerializer.Serialize(record, KeyJson.Default.RuntimeKeyRecord), expectedRevision, record.Prefix,
            JsonSerializer.Serialize(audit, KeyJson.Default.KeyAuditEntry),
        ]);
        return result >= 0 && await AnnounceAsync(new KeyChange(result, record.Name));
    }

    public async Task<IReadOnlyList<RuntimeTeamRecord>> ListTeamsAsync(CancellationToken cancellationToken)
    {
        var entries = await _redis.RunAsync("keys.teams", db => db.HashGetAllAsync(_teams));
        return [.. entries.Select(e => JsonSerializer.Deserialize((string)e.Value!, KeyJson.Default.RuntimeTeamRecord)!)];
    }

    public async Task<RuntimeTeamRecord?> GetTeamAsync(string name, CancellationToken cancellationToken)
    {
        var value = await _redis.RunAsync("keys.team", db => db.HashGetAsync(_teams, name));
        return value.IsNull ? null : JsonSerializer.Deserialize((string)value!, KeyJson.Default.RuntimeTeamRecord);
    }

    public async Task<bool> SaveTeamAsync(RuntimeTeamRecord team, long expectedRevision, bool delete, KeyAuditEntry audit, CancellationToken cancellationToken)
    {
        var result = (long)await _redis.EvalAsync(SaveTeam, [_teams, _keys[2], _keys[3]],
        [
            team.Name, delete ? "" : JsonSerializer.Serialize(team, KeyJson.Default.RuntimeTeamRecord), expectedRevision,
            JsonSerializer.Serialize(audit, KeyJson.Default.KeyAuditEntry),
        ]);
        return result >= 0 && await AnnounceAsync(new KeyChange(result, KeyChange.OfTeam(team.Name)));
    }

    private async Task<bool> AnnounceAsync(KeyChange change)
    {
        Changed?.Invoke(change);
        try
        {
            await _redis.RunAsync("keys.announce", db => db.PublishAsync(RedisChannel.Literal(_channel),
                change.Version.ToString(CultureInfo.InvariantCulture) + " " + change.Name));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Saved: the other replicas see the version move within a second and reload.
        }

        return true;
    }

    public async Task<IReadOnlyList<KeyAuditEntry>> AuditAsync(int take, CancellationToken cancellationToken)
    {
        var entries = await _redis.RunAsync("keys.audit", db => db.StreamRangeAsync(_keys[3], "-", "+", take, Order.Descending));
        return [.. entries.Select(e => JsonSerializer.Deserialize((string)e["entry"]!, KeyJson.Default.KeyAuditEntry)!)];
    }

    private void OnAnnounced(string message)
    {
        var space = message.IndexOf(' ', StringComparison.Ordinal);
        if (space > 0 && long.TryParse(message.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            Changed?.Invoke(new KeyChange(version, message[(space + 1)..]));
        }
    }

    private static RuntimeKeyRecord Read(RedisValue value) => JsonSerializer.Deserialize((string)value!, KeyJson.Default.RuntimeKeyRecord)!;
}
