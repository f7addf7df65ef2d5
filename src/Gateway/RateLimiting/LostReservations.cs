using Gateway.Configuration;
using Gateway.Metering;
using Gateway.Telemetry;
using Gateway.Requests;

namespace Gateway.RateLimiting;

/// <summary>
/// Every admitted request ends with exactly one usage record, even when its replica dies mid-request (SIGKILL, a lost
/// node): its reservation stays in Redis, listed by lease end, and a running request renews the lease. Each replica
/// looks, every <c>Limits:LostReservationSweepSeconds</c>, for reservations (of the scopes in use) whose lease ended
/// more than <c>Limits:LostReservationGraceSeconds</c> ago; one replica claims each (atomically), records it with
/// outcome <c>replica_lost</c> at what was reserved (tokens and worst-case cost, labelled estimated) under the request's
/// own record id, and leaves the counters at those figures: that is its settlement. A request whose replica was alive
/// but could not reach Redis for a whole lease and grace is treated the same, and its own later record is then dropped
/// as a duplicate: one record, at the conservative figure.
/// </summary>
internal sealed partial class LostReservations(ConfigStore config, Auth.IKeyDirectory runtimeKeys, ILimitEngine engine, IUsageSink usage, GatewayMetrics metrics,
    TimeProvider clock, ILogger<LostReservations> logger) : BackgroundService
{
    private const int ClaimsPerScope = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var settings = config.Current.Limiter;
            // Replicas sweep at different moments: the claims are exclusive anyway, the jitter only spreads the reads.
            var pause = settings.LostReservationSweep * (0.75 + (Random.Shared.NextDouble() * 0.5));
            await Task.Delay(pause, clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (stoppingToken.IsCancellationRequested)
            {
                break;
            }

            await SweepAsync(settings.LostReservationGrace);
        }
    }

    private bool _sweptEveryKey;

    /// <summary>
    /// One pass over the scopes (a key alone, or a team with its keys) that admitted a recoverable request within the
    /// recovery horizon: what is in use, not every configured key (a hundred thousand keys would otherwise cost as many
    /// Redis calls per pass). The first pass of a replica also looks at every key with limits, for reservations admitted
    /// before the engine kept that index.
    /// </summary>
    internal async Task SweepAsync(TimeSpan grace)
    {
        try
        {
            var scopes = new HashSet<string>(await engine.ActiveScopesAsync(LimitPlan.RecoveryHorizon), StringComparer.Ordinal);
            if (!_sweptEveryKey)
            {
                var snapshot = config.Current;
                scopes.UnionWith(snapshot.KeysByHash.Values.Concat(runtimeKeys.Keys(snapshot)).Where(k => !k.Limits.IsEmpty)
                    .Select(k => LimitPlan.ScopeOf(k.Id, k.Limits)));
            }

            foreach (var scope in scopes)
            {
                foreach (var lost in await engine.ClaimLostAsync(scope, grace, ClaimsPerScope))
                {
                    Record(lost);
                }
            }

            _sweptEveryKey = true;
        }
        catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException)
        {
            // Redis unreachable: the reservations wait for the next pass.
            Log.SweepFailed(logger, ex.GetType().Name);
        }
    }

    private void Record(LostReservation lost)
    {
        var r = lost.Record;
        Log.Recovered(logger, r.RequestId, r.KeyName, r.Model);
        metrics.ReservationLost();
        usage.Record(new UsageRecord
        {
            Id = r.RecordId,
            RequestId = r.RequestId,
            Key = r.KeyName,
            KeyId = r.KeyId ?? lost.Scope,
            Team = r.Team,
            Model = r.Model,
            PromptTokens = (int)Math.Min(int.MaxValue, r.PromptTokens),
            CompletionTokens = (int)Math.Min(int.MaxValue, r.CompletionTokens),
            Estimated = true,
            CostMicros = r.CostMicros,
            // The client's answer was cut by the gateway's failure.
            Status = 502,
            Outcome = ReplicaLostOutcome,
            Streamed = r.Streamed,
            Timestamp = lost.AdmittedAt,
        });
    }

    public const string ReplicaLostOutcome = "replica_lost";

    private static partial class Log
    {
        [LoggerMessage(150, LogLevel.Warning, "{RequestId} (key {Key}, model {Model}) was admitted by a replica that is gone: recorded as replica_lost at what was reserved")]
        public static partial void Recovered(ILogger logger, string requestId, string key, string model);

        [LoggerMessage(151, LogLevel.Warning, "Looking for reservations of lost replicas failed ({Reason}); tried again at the next pass")]
        public static partial void SweepFailed(ILogger logger, string reason);
    }
}
