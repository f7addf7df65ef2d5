using System.Globalization;
using Gateway.Configuration;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.Routing;

/// <summary>Tells the other replicas when this one opens or closes a deployment's circuit.</summary>
internal interface ICircuitShare
{
    void Announce(string deploymentId, CircuitChange change);
}

/// <summary>One replica, nothing to share.</summary>
internal sealed class LocalCircuitShare : ICircuitShare
{
    public void Announce(string deploymentId, CircuitChange change)
    {
    }
}

/// <summary>
/// Circuits shared through Redis: an open circuit is a key that expires with its cool-down (so a replica that starts
/// later learns it) and a message on one channel (so running replicas skip the deployment at once); a close is the key
/// deleted and a message. Best effort: without Redis each replica keeps breaking circuits on its own.
/// Messages carry the cool-down left, not an instant, so replicas need not agree on the time.
/// </summary>
internal sealed partial class RedisCircuitShare : ICircuitShare, IWarmUp
{
    private readonly RedisStore _redis;
    private readonly DeploymentHealthRegistry _health;
    private readonly ConfigStore _config;
    private readonly TimeProvider _clock;
    private readonly ILogger<RedisCircuitShare> _logger;
    private readonly string _channel;
    private readonly Lock _gate = new();
    private Task? _subscription;

    public RedisCircuitShare(RedisStore redis, DeploymentHealthRegistry health, ConfigStore config, TimeProvider clock,
        ILogger<RedisCircuitShare> logger)
    {
        _redis = redis;
        _health = health;
        _config = config;
        _clock = clock;
        _logger = logger;
        _channel = redis.Key("circuits");
    }

    /// <summary>Before the replica is ready: subscribed, and every configured deployment's open circuit loaded.</summary>
    public async Task WarmUpAsync()
    {
        await EnsureSubscribedAsync();
        var ids = _config.Current.Models.Values.SelectMany(m => m.Deployments).Select(d => d.Id).Distinct().ToList();
        var ttls = await Task.WhenAll(ids.Select(id => _redis.RunAsync("circuits.load", db => db.KeyTimeToLiveAsync(Key(id)))));
        for (var i = 0; i < ids.Count; i++)
        {
            if (ttls[i] is { } left && left > TimeSpan.Zero)
            {
                _health.For(ids[i]).Circuit.OpenedElsewhere(_clock.GetUtcNow(), left);
            }
        }
    }

    public void Announce(string deploymentId, CircuitChange change) => _ = AnnounceAsync(deploymentId, change);

    private async Task AnnounceAsync(string deploymentId, CircuitChange change)
    {
        try
        {
            await EnsureSubscribedAsync();
            var key = Key(deploymentId);
            var message = (change.Opened ? "open|" : "close|") + ((long)change.BreakFor.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "|" + deploymentId;
            await _redis.RunAsync("circuits.announce", async db =>
            {
                var stored = change.Opened
                    ? db.StringSetAsync(key, "1", change.BreakFor)
                    : db.KeyDeleteAsync(key);
                await Task.WhenAll(stored, db.PublishAsync(RedisChannel.Literal(_channel), message));
                return true;
            });
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.AnnounceFailed(_logger, deploymentId, ex.GetType().Name);
        }
    }

    private void OnMessage(string message)
    {
        var parts = message.Split('|', 3);
        if (parts.Length != 3 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            return;
        }

        // Only deployments this replica has heard of: a message cannot grow the registry without bound.
        var health = _health.Find(parts[2]) ?? (IsConfigured(parts[2]) ? _health.For(parts[2]) : null);
        if (health is null)
        {
            return;
        }

        if (parts[0] == "open")
        {
            health.Circuit.OpenedElsewhere(_clock.GetUtcNow(), TimeSpan.FromMilliseconds(ms));
        }
        else if (parts[0] == "close")
        {
            health.Circuit.ClosedElsewhere();
        }
    }

    private bool IsConfigured(string id) => _config.Current.Models.Values.Any(m => m.Deployments.Any(d => d.Id == id));

    /// <summary>Subscribes once per process; a failed attempt (Redis down) is retried by the next announcement.</summary>
    private Task EnsureSubscribedAsync()
    {
        lock (_gate)
        {
            if (_subscription is null || _subscription.IsFaulted || _subscription.IsCanceled)
            {
                _subscription = _redis.SubscribeAsync(_channel, OnMessage);
            }

            return _subscription;
        }
    }

    private string Key(string deploymentId) => _redis.Key("circuit:", deploymentId);

    private static partial class Log
    {
        [LoggerMessage(90, LogLevel.Warning, "Telling other replicas about the circuit of {Deployment} failed ({Error}); each replica decides alone meanwhile")]
        public static partial void AnnounceFailed(ILogger logger, string deployment, string error);
    }
}
