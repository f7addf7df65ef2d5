using System.Diagnostics.Metrics;
using System.Text;
using StackExchange.Redis;

namespace Gateway.Redis;

/// <summary>
/// The gateway's one adapter over the shared <see cref="IConnectionMultiplexer"/>: key naming, scripts
/// by SHA, and a count of every failed command. Rate limits, metering, the Hive V2 bridge and the
/// distributed cache all use the same connection. Async commands time out after
/// <c>Redis:CommandTimeoutMilliseconds</c>, so Redis trouble never hangs a request.
/// </summary>
internal sealed class RedisStore
{
    private readonly IConnectionMultiplexer _connection;
    private readonly Counter<long>? _failures;

    public RedisStore(IConnectionMultiplexer connection, string keyPrefix, IMeterFactory? meters = null)
    {
        _connection = connection;
        KeyPrefix = keyPrefix;
        _failures = meters?.Create(Telemetry.GatewayTelemetry.MeterName)
            .CreateCounter<long>("gateway.redis.failures", "{failure}", "Redis commands that failed or timed out, by operation.");
    }

    public string KeyPrefix { get; }

    public IConnectionMultiplexer Connection => _connection;

    public bool IsConnected => _connection.IsConnected;

    public string Key(string suffix) => KeyPrefix + suffix;

    /// <summary>A key named by a kind and an id (<c>kind</c> ends with its separator), made in one string.</summary>
    public string Key(string kind, string id) => string.Concat(KeyPrefix, kind, id);

    /// <summary>
    /// A key held as its UTF-8 bytes, for a name made once and sent with many commands (a scope's counters, a batch's
    /// hashes). The client copies a byte key into its buffer as it is; a string key it measures and encodes again on every
    /// write, in three writes to its buffer instead of one. The bytes are the string's own UTF-8: Redis sees the same name.
    /// </summary>
    public RedisKey ByteKey(string suffix) => Encoding.UTF8.GetBytes(KeyPrefix + suffix);

    public IDatabase Database => _connection.GetDatabase();

    /// <summary>
    /// Sends scripts to every server (SCRIPT LOAD) before traffic comes: the first requests of a fresh replica then
    /// find them cached, and the client's own code paths are warm, instead of spending a cold start inside a
    /// decision timeout.
    /// </summary>
    public async Task PreloadAsync(IEnumerable<RedisScript> scripts)
    {
        var texts = scripts.Select(s => s.Text).ToList();
        foreach (var endpoint in _connection.GetEndPoints())
        {
            var server = _connection.GetServer(endpoint);
            if (server.IsConnected && !server.IsReplica)
            {
                foreach (var text in texts)
                {
                    await Counted("script.load", server.ScriptLoadAsync(text));
                }
            }
        }
    }

    public Task<RedisResult> EvalAsync(RedisScript script, RedisKey[] keys, RedisValue[] values) =>
        Counted(script.Name, script.EvaluateAsync(Database, keys, values));

    public Task<T> RunAsync<T>(string operation, Func<IDatabase, Task<T>> command) => Counted(operation, command(Database));

    public async Task<byte[]?> GetAsync(string operation, string key) => (byte[]?)await RunAsync(operation, db => db.StringGetAsync(key));

    public Task SubscribeAsync(string channel, Action<string> handler) =>
        Counted("subscribe", _connection.GetSubscriber().SubscribeAsync(RedisChannel.Literal(channel), (_, message) => handler(message!)));

    private async Task<T> Counted<T>(string operation, Task<T> command)
    {
        try
        {
            return await command;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            CountFailure(operation);
            throw;
        }
    }

    private async Task Counted(string operation, Task command)
    {
        try
        {
            await command;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            CountFailure(operation);
            throw;
        }
    }

    /// <summary>Also for callers whose own deadline gave up on a command before Redis answered.</summary>
    public void CountFailure(string operation) => _failures?.Add(1, new KeyValuePair<string, object?>("gateway.redis.operation", operation));
}
