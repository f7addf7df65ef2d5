using Gateway.Configuration;

namespace Gateway.Redis;

/// <summary>
/// A second Redis connection for large, rare reads (the usage rollups behind <c>/admin/usage</c> and the dashboard: a month
/// of 50 keys x 10 models is about 100,000 hash fields). On the shared connection such replies would queue in front of
/// the rate limiter's admissions (one socket, answered in order) and push them past their decision timeout; here they
/// wait only for each other, with a timeout made for them (10 s). Connected before the replica is ready, and never with a
/// thread held: connecting on the first admin call, in the middle of traffic, starved the admissions around it on a busy
/// two-core host (seen in a test as 503s right after a Redis stall).
/// </summary>
internal sealed class RedisBulkReads(Lazy<Task<RedisStore>> store) : Lifecycle.IWarmUp
{
    public const int TimeoutMilliseconds = 10_000;

    public Task WarmUpAsync() => StoreAsync;

    public Task<RedisStore> StoreAsync => store.Value;

    public static RedisBulkReads For(RedisOptions options, ILogger logger, System.Diagnostics.Metrics.IMeterFactory? meters) =>
        new(new Lazy<Task<RedisStore>>(async () => new RedisStore(
            await RedisConnection.ConnectAsync(options, logger, TimeoutMilliseconds, "llm-gateway-bulk"), options.KeyPrefix, meters)));
}
