using Gateway.Configuration;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using StackExchange.Redis;

namespace Gateway.Redis;

/// <summary>
/// Registers the one <see cref="IConnectionMultiplexer"/> every Redis feature shares, and the
/// <see cref="Microsoft.Extensions.Caching.Distributed.IDistributedCache"/> on top of it (in memory without Redis).
/// </summary>
internal static partial class RedisConnection
{
    public static bool IsConfigured(IConfiguration configuration) => !string.IsNullOrWhiteSpace(configuration["Redis:Configuration"]);

    public static IServiceCollection AddGatewayRedis(this IServiceCollection services, IConfiguration configuration)
    {
        if (!IsConfigured(configuration))
        {
            services.AddDistributedMemoryCache();
            return services;
        }

        // Redis is read once at start-up; changing Redis:Configuration needs a restart.
        services.AddSingleton<IConnectionMultiplexer>(sp =>
            Connect(sp.GetRequiredService<ConfigStore>().Current.Redis, sp.GetRequiredService<ILogger<RedisStore>>()));
        services.AddSingleton(sp => new RedisStore(sp.GetRequiredService<IConnectionMultiplexer>(),
            sp.GetRequiredService<ConfigStore>().Current.Redis.KeyPrefix, sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddStackExchangeRedisCache(_ => { });
        services.AddOptions<RedisCacheOptions>().Configure<IConnectionMultiplexer, ConfigStore>((options, connection, config) =>
        {
            options.ConnectionMultiplexerFactory = () => Task.FromResult(connection);
            options.InstanceName = config.Current.Redis.KeyPrefix + "cache:";
        });
        return services;
    }

    /// <summary>Connects in the background: a Redis that is down at start-up does not stop the gateway.</summary>
    public static ConnectionMultiplexer Connect(RedisOptions options, ILogger logger)
    {
        var config = ConfigurationOptions.Parse(options.Configuration!);
        config.AbortOnConnectFail = false;
        config.ConnectTimeout = Math.Max(options.CommandTimeoutMilliseconds, 1000);
        config.SyncTimeout = options.CommandTimeoutMilliseconds;
        config.AsyncTimeout = options.CommandTimeoutMilliseconds;
        config.ConnectRetry = 1;
        config.KeepAlive = 5;
        config.ClientName ??= "llm-gateway";
        var connection = ConnectionMultiplexer.Connect(config);
        connection.ConnectionFailed += (_, e) => Log.ConnectionLost(logger, e.EndPoint?.ToString(), e.FailureType.ToString());
        connection.ConnectionRestored += (_, e) => Log.ConnectionRestored(logger, e.EndPoint?.ToString());
        return connection;
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Error, "Redis connection to {Endpoint} lost ({Failure}); features fall back as configured until it returns")]
        public static partial void ConnectionLost(ILogger logger, string? endpoint, string failure);

        [LoggerMessage(41, LogLevel.Information, "Redis connection to {Endpoint} restored")]
        public static partial void ConnectionRestored(ILogger logger, string? endpoint);
    }
}
