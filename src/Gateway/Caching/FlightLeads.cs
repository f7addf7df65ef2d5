using System.Collections.Concurrent;
using Gateway.Redis;
using Gateway.Telemetry;
using StackExchange.Redis;

namespace Gateway.Caching;

/// <summary>
/// Across replicas, which one calls the provider for an answer that several are waiting for, and news of its landing.
/// Inside one replica, <see cref="ResponseCache"/> lets only the first request of a kind ask.
/// </summary>
internal interface IFlightLeads
{
    /// <summary>True when this replica should call the provider: it now leads, or leading cannot be decided (Redis trouble).</summary>
    Task<bool> TryLeadAsync(string hash, TimeSpan lease);

    /// <summary>Returns once the leading replica has landed (announced, or its lead is gone), or when <paramref name="wait"/> is over.</summary>
    Task WaitForLandingAsync(string hash, TimeSpan wait);

    /// <summary>Gives up the lead and tells the waiting replicas (after the answer was stored, or when there is none).</summary>
    Task LandAsync(string hash);
}

/// <summary>One replica: there is nobody else to wait for.</summary>
internal sealed class LocalFlightLeads : IFlightLeads
{
    public Task<bool> TryLeadAsync(string hash, TimeSpan lease) => Task.FromResult(true);

    public Task WaitForLandingAsync(string hash, TimeSpan wait) => Task.CompletedTask;

    public Task LandAsync(string hash) => Task.CompletedTask;
}

/// <summary>
/// Leads in Redis: a lock per answer (SET NX PX, released only by its holder) and one channel on which landings are
/// announced. A waiting replica also looks at the lock now and then, so a leader that died (its lease runs out) or an
/// announcement that was lost never holds anyone longer than the look interval.
/// </summary>
internal sealed class RedisFlightLeads : IFlightLeads, IWarmUp
{
    private static readonly TimeSpan LookInterval = TimeSpan.FromMilliseconds(250);

    private readonly RedisStore _redis;
    private readonly GatewayMetrics _metrics;
    private readonly string _holder = Guid.NewGuid().ToString("N");
    private readonly string _channel;
    private readonly ChannelSubscription _landings;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiting = new(StringComparer.Ordinal);

    public RedisFlightLeads(RedisStore redis, GatewayMetrics metrics)
    {
        _redis = redis;
        _metrics = metrics;
        _channel = redis.Key("cache:landed");
        _landings = new ChannelSubscription(redis, _channel, OnLanded);
    }

    public Task WarmUpAsync() => _landings.EnsureAsync();

    public async Task<bool> TryLeadAsync(string hash, TimeSpan lease)
    {
        try
        {
            return await _redis.RunAsync("cache.lead", db => db.LockTakeAsync(LeadKey(hash), _holder, lease));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _metrics.CacheFailed("lead");
            return true;
        }
    }

    public async Task WaitForLandingAsync(string hash, TimeSpan wait)
    {
        var landed = _waiting.GetOrAdd(hash, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var until = DateTime.UtcNow + wait;
        try
        {
            try
            {
                await _landings.EnsureAsync();
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // No announcements then: the looks at the lock still end the wait.
            }

            // Registered before the first look, so a landing between the look and the wait is not missed.
            while (await LeadHeldAsync(hash))
            {
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                try
                {
                    await landed.Task.WaitAsync(left < LookInterval ? left : LookInterval);
                    return;
                }
                catch (TimeoutException)
                {
                }
            }
        }
        finally
        {
            _waiting.TryRemove(new KeyValuePair<string, TaskCompletionSource>(hash, landed));
        }
    }

    public async Task LandAsync(string hash)
    {
        try
        {
            await _redis.RunAsync("cache.land", db => db.LockReleaseAsync(LeadKey(hash), _holder));
            await _redis.RunAsync("cache.land", db => db.PublishAsync(RedisChannel.Literal(_channel), hash));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The waiters see the lease run out instead.
            _metrics.CacheFailed("lead");
        }
    }

    private async Task<bool> LeadHeldAsync(string hash)
    {
        try
        {
            return await _redis.RunAsync("cache.lead", db => db.KeyExistsAsync(LeadKey(hash)));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            _metrics.CacheFailed("lead");
            return false;
        }
    }

    private string LeadKey(string hash) => _redis.Key("cache-lead:", hash);

    private void OnLanded(string hash)
    {
        if (_waiting.TryGetValue(hash, out var landed))
        {
            landed.TrySetResult();
        }
    }
}
