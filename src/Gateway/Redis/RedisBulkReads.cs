using Gateway.Configuration;

namespace Gateway.Redis;

/// <summary>
/// A second Redis connection for large, rare reads (the usage rollups behind <c>/admin/usage</c> and the dashboard: a month
/// of 50 keys x 10 models is about 100,000 hash fields). On the shared connection such replies would queue in front of
/// the rate limiter's admissions (one socket, answered in order) and push them past their decision timeout; here they
/// wait only for each other, with a timeout made for them (10 s). Connected on first use.
/// </summary>
internal sealed class RedisBulkReads(Lazy<RedisStore> store)
{
    public const int TimeoutMilliseconds = 10_000;

    public RedisStore Store => store.Value;

    public static RedisBulkReads For(RedisOptions options, ILogger logger, System.Diagnostics.Metrics.IMeterFactory? meters) =>
        new(new Lazy<RedisStore>(() => new RedisStore(
            RedisConnection.Connect(options, logger, TimeoutMilliseconds, "llm-gateway-bulk"), options.KeyPrefix, meters)));
}
