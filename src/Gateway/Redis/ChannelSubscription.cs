namespace Gateway.Redis;

/// <summary>
/// One subscription per process to a Redis channel, made on first need: a failed attempt (Redis down) is made again by
/// the next caller, and callers meanwhile fall back to their own polling.
/// </summary>
internal sealed class ChannelSubscription(RedisStore redis, string channel, Action<string> onMessage)
{
    private readonly Lock _gate = new();
    private Task? _subscription;

    public Task EnsureAsync()
    {
        lock (_gate)
        {
            if (_subscription is null || _subscription.IsFaulted || _subscription.IsCanceled)
            {
                _subscription = redis.SubscribeAsync(channel, onMessage);
            }

            return _subscription;
        }
    }
}
