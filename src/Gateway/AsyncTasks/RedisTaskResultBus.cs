using System.Collections.Concurrent;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.AsyncTasks;

/// <summary>
/// The task bus across replicas: a pending marker per task, the first result stored with SET NX
/// semantics and announced on one channel, all in one Lua step so a duplicate callback can never
/// be taken twice. Each replica subscribes once and wakes its local waiters by correlation id.
/// </summary>
internal sealed partial class RedisTaskResultBus : ITaskResultBus, IWarmUp
{
    public Task WarmUpAsync() => Task.WhenAll(_redis.PreloadAsync([CompleteScript]), _announcements.EnsureAsync());

    private static readonly TimeSpan ResultLifetime = TimeSpan.FromMinutes(10);

    // KEYS: pending marker (holding the provider's task id once known), result. ARGV: body, result TTL (s), channel,
    // correlation id, the body's task id. Returns 1 accepted, 2 duplicate, 0 unknown, 3 about another task.
    private static readonly RedisScript CompleteScript = new("tasks.complete", """
        if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
        local pending = redis.call('GET', KEYS[1])
        if not pending then return 0 end
        if pending ~= '1' and pending ~= ARGV[5] then return 3 end
        redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
        redis.call('PUBLISH', ARGV[3], ARGV[4])
        return 1
        """);

    private readonly RedisStore _redis;
    private readonly ILogger<RedisTaskResultBus> _logger;
    private readonly string _channel;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _waiters = new(StringComparer.Ordinal);
    private readonly ChannelSubscription _announcements;

    public RedisTaskResultBus(RedisStore redis, ILogger<RedisTaskResultBus> logger)
    {
        _redis = redis;
        _logger = logger;
        _channel = redis.Key("tasks:done");
        _announcements = new ChannelSubscription(redis, _channel, OnAnnounced);
    }

    public async Task RegisterAsync(string correlationId, TimeSpan lifetime)
    {
        await _announcements.EnsureAsync();
        await _redis.RunAsync("tasks.register", db => db.StringSetAsync(PendingKey(correlationId), "1", lifetime));
    }

    public Task SetTaskIdAsync(string correlationId, string taskId) =>
        _redis.RunAsync("tasks.register", db => db.StringSetAsync(PendingKey(correlationId), taskId, expiry: null, keepTtl: true, when: When.Exists));

    public async Task<CallbackAcceptance> CompleteAsync(string correlationId, string? taskId, byte[] taskBody)
    {
        var result = (long)await _redis.EvalAsync(CompleteScript,
            [PendingKey(correlationId), ResultKey(correlationId)],
            [taskBody, (long)ResultLifetime.TotalSeconds, _channel, correlationId, taskId ?? ""]);
        return result switch
        {
            1 => CallbackAcceptance.Accepted,
            2 => CallbackAcceptance.Duplicate,
            3 => CallbackAcceptance.WrongTask,
            _ => CallbackAcceptance.Unknown,
        };
    }

    public async Task<byte[]?> WaitAsync(string correlationId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var signal = _waiters.GetOrAdd(correlationId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        try
        {
            // Registered before looking, so an announcement between the look and the wait is not missed.
            var stored = await TryGetAsync(correlationId);
            if (stored is not null)
            {
                return stored;
            }

            try
            {
                await signal.Task.WaitAsync(timeout, cancellationToken);
            }
            catch (TimeoutException)
            {
                return null;
            }

            return await TryGetAsync(correlationId);
        }
        finally
        {
            _waiters.TryRemove(new KeyValuePair<string, TaskCompletionSource>(correlationId, signal));
        }
    }

    private async Task<byte[]?> TryGetAsync(string correlationId)
    {
        try
        {
            return await _redis.GetAsync("tasks.lookup", ResultKey(correlationId));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // Redis trouble: the waiter keeps polling the provider instead.
            Log.LookupFailed(_logger, ex, correlationId);
            return null;
        }
    }

    private void OnAnnounced(string correlationId)
    {
        if (_waiters.TryGetValue(correlationId, out var signal))
        {
            signal.TrySetResult();
        }
    }

    private string PendingKey(string correlationId) => _redis.Key("{task:" + correlationId + "}:pending");

    private string ResultKey(string correlationId) => _redis.Key("{task:" + correlationId + "}:result");

    private static partial class Log
    {
        [LoggerMessage(50, LogLevel.Warning, "Looking up the result of task {CorrelationId} in Redis failed")]
        public static partial void LookupFailed(ILogger logger, Exception exception, string correlationId);
    }
}
