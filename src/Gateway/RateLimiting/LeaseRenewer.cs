using System.Collections.Concurrent;

namespace Gateway.RateLimiting;

/// <summary>
/// Keeps the in-flight leases of long requests (streams) alive: a lease lasts as long as a request may normally
/// take, so a crashed replica's leases free themselves soon, and this renews those of requests still running.
/// </summary>
internal sealed partial class LeaseRenewer(ILimitEngine engine, TimeProvider clock, ILogger<LeaseRenewer> logger) : BackgroundService
{
    // Often enough for any lease (each is renewed at half its length; only those due are touched), so a request still
    // running is never taken for one whose replica is gone (LostReservations).
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, (LimitPlan Plan, DateTimeOffset RenewAt)> _running = new(StringComparer.Ordinal);

    public void Track(LimitPlan plan) => _running[plan.ReservationId] = (plan, clock.GetUtcNow() + (plan.Lease / 2));

    public void Untrack(LimitPlan plan) => _running.TryRemove(plan.ReservationId, out _);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var now = clock.GetUtcNow();
            foreach (var (id, (plan, renewAt)) in _running)
            {
                if (now < renewAt)
                {
                    continue;
                }

                try
                {
                    await engine.RenewAsync(plan).WaitAsync(TimeSpan.FromSeconds(2), clock, stoppingToken);
                    _running.TryUpdate(id, (plan, now + (plan.Lease / 2)), (plan, renewAt));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Tried again at the next tick; the lease still has half its time.
                    Log.RenewFailed(logger, ex.GetType().Name, id);
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(87, LogLevel.Warning, "Renewing the in-flight lease of reservation {ReservationId} failed ({Reason})")]
        public static partial void RenewFailed(ILogger logger, string reason, string reservationId);
    }
}
