using Gateway.Redis;
using Gateway.Metering;

namespace Gateway.Lifecycle;

internal enum ReplicaState
{
    Starting,
    Ready,
    Draining,
    Stopping,
}

/// <summary>
/// A replica's life, as a load balancer sees it. Ready only once the configuration is in force, Redis has been tried and
/// the usage journal replayed. On SIGTERM: <c>/readyz</c> answers 503 at once while everything keeps being served for
/// <see cref="LifecycleOptions.DrainDelay"/>; then the listener closes and requests in flight get
/// <see cref="LifecycleOptions.ShutdownGrace"/> to finish; a stream still open after that is ended with an error event
/// (<see cref="ServerStopping"/>); usage is flushed last, after the listener has let every request go.
/// </summary>
internal sealed partial class GatewayLifecycle(
    LifecycleOptions options,
    IServiceProvider services,
    UsagePipeline usage,
    TimeProvider clock,
    ILogger<GatewayLifecycle> logger) : IHostedLifecycleService, IDisposable
{
    private readonly CancellationTokenSource _graceOver = new();
    private volatile ReplicaState _state = ReplicaState.Starting;

    public ReplicaState State => _state;

    /// <summary>Fires when the shutdown grace is over: whatever still runs is ended, with an error its client can read.</summary>
    public CancellationToken ServerStopping => _graceOver.Token;

    public async Task StartingAsync(CancellationToken cancellationToken)
    {
        // Try Redis now (a replica that cannot reach it still serves, but the attempt belongs before "ready").
        if (services.GetService<StackExchange.Redis.IConnectionMultiplexer>() is { } redis && !redis.IsConnected)
        {
            Log.RedisNotConnected(logger);
        }

        // The journal (without Redis) is replayed into the rollups when the store is built.
        _ = services.GetRequiredService<IUsageStore>();
        // What the Redis-backed services prepare (SharedOrLocal registers each that has something to).
        var warm = services.GetServices<IWarmUp>().ToList();
        // Compiling runs alongside the rest, and is waited for longer: it only takes CPU, and a replica taking traffic
        // while it still compiles would answer its first requests late.
        var compiling = services.GetRequiredService<JitWarmUp>().WarmUpAsync();
        try
        {
            await Task.WhenAll(warm.Select(w => w.WarmUpAsync())).WaitAsync(TimeSpan.FromSeconds(10), clock, cancellationToken);
            await compiling.WaitAsync(TimeSpan.FromSeconds(60), clock, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.WarmUpFailed(logger, ex.GetType().Name);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        // Records spilled by an earlier run go to the store before this replica takes traffic.
        await usage.InitialReplay.WaitAsync(TimeSpan.FromSeconds(30), clock, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // Not ready before an admission fits its timeout here (whatever the JIT settings): a replica that cannot decide yet
        // would refuse its first budgeted requests. A Redis that stays slow does not keep the fleet out of the balancer.
        await services.GetRequiredService<RateLimiting.RateLimiter>().ProbeAsync(TimeSpan.FromSeconds(20), cancellationToken);
        _state = ReplicaState.Ready;
        Log.Ready(logger);
    }

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _state = ReplicaState.Draining;
        Log.Draining(logger, options.DrainDelay.TotalSeconds, options.ShutdownGrace.TotalSeconds);
        await Task.Delay(options.DrainDelay, clock, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _state = ReplicaState.Stopping;
        // From here the listener closes (the web host stops next); the requests in flight get the grace.
        _graceOver.CancelAfter(options.ShutdownGrace);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _graceOver.Dispose();

    private static partial class Log
    {
        [LoggerMessage(120, LogLevel.Information, "Ready: configuration in force, usage journal replayed")]
        public static partial void Ready(ILogger logger);

        [LoggerMessage(121, LogLevel.Information, "Stopping: /readyz answers 503; serving for {Drain}s more, then {Grace}s for requests in flight")]
        public static partial void Draining(ILogger logger, double drain, double grace);

        [LoggerMessage(124, LogLevel.Warning, "Warming the Redis connection up failed ({Reason}); the first requests pay for it")]
        public static partial void WarmUpFailed(ILogger logger, string reason);

        [LoggerMessage(122, LogLevel.Warning, "Redis is not reachable at start; limits, metering and callbacks fall back as configured until it is")]
        public static partial void RedisNotConnected(ILogger logger);
    }
}
