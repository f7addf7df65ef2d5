using StackExchange.Redis;

namespace Gateway.Redis;

/// <summary>
/// The one adapter over StackExchange.Redis. Only calls that exist unchanged in 1.2.6 and 2.x are
/// used (Connect, StringGet/Set, ScriptEvaluate, Publish/Subscribe), so moving to 2.x is a version
/// bump. Commands time out quickly: Redis trouble must never hang a request.
/// </summary>
internal sealed partial class RedisStore : IDisposable
{
    private readonly ConnectionMultiplexer _connection;
    private readonly ILogger<RedisStore> _logger;

    private RedisStore(ConnectionMultiplexer connection, string prefix, ILogger<RedisStore> logger)
    {
        _connection = connection;
        KeyPrefix = prefix;
        _logger = logger;
        _connection.ConnectionFailed += (_, e) => Log.ConnectionLost(_logger, e.EndPoint?.ToString(), e.FailureType.ToString());
        _connection.ConnectionRestored += (_, e) => Log.ConnectionRestored(_logger, e.EndPoint?.ToString());
    }

    public string KeyPrefix { get; }

    /// <summary>Connects in the background: a Redis that is down at start-up does not stop the gateway.</summary>
    public static RedisStore Connect(Configuration.RedisOptions options, ILogger<RedisStore> logger)
    {
        var config = ConfigurationOptions.Parse(options.Configuration!);
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = Math.Max(options.CommandTimeoutMilliseconds, 1000);
        config.SyncTimeout = options.CommandTimeoutMilliseconds;
        config.ConnectRetry = 1;
        config.KeepAlive = 5;
        config.ClientName = "llm-gateway";
        return new RedisStore(ConnectionMultiplexer.Connect(config), options.KeyPrefix, logger);
    }

    public string Key(string suffix) => KeyPrefix + suffix;

    public IDatabase Database => _connection.GetDatabase();

    public async Task<byte[]?> GetAsync(string key) => (byte[]?)await Database.StringGetAsync(key);

    public Task<RedisResult> EvalAsync(string script, RedisKey[] keys, RedisValue[] values) =>
        Database.ScriptEvaluateAsync(script, keys, values);

    public Task SubscribeAsync(string channel, Action<string> handler) =>
        _connection.GetSubscriber().SubscribeAsync(channel, (_, message) => handler(message!));

    public void Dispose() => _connection.Dispose();

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Error, "Redis connection to {Endpoint} lost ({Failure}); features fall back as configured until it returns")]
        public static partial void ConnectionLost(ILogger logger, string? endpoint, string failure);

        [LoggerMessage(41, LogLevel.Information, "Redis connection to {Endpoint} restored")]
        public static partial void ConnectionRestored(ILogger logger, string? endpoint);
    }
}
