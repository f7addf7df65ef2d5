using System.Diagnostics.Metrics;
using Gateway.Configuration;
using Gateway.Metering;
using Gateway.Telemetry;

namespace Gateway;

/// <summary>
/// Gauges read from the state of other components when a reader collects them, so those
/// components keep no telemetry code: configuration reloads, the usage buffer and its spill file, settlements waiting.
/// </summary>
internal sealed class StateGauges
{
    public StateGauges(GatewayMetrics metrics, ConfigStore config, UsagePipeline usage, Routing.DeploymentHealthRegistry health,
        Forwarding.ProviderAccounts accounts, RateLimiting.SettlementQueue settlements, TimeProvider clock)
    {
        var meter = metrics.Meter;
        meter.CreateObservableGauge("gateway.provider.remaining_credits", () => accounts.Balances.Select(b => new Measurement<double>(
                b.Value.Remaining, new KeyValuePair<string, object?>(GatewayTelemetry.System, b.Key))), "{credit}",
            "The balance each provider account last reported (Segmind's x-remaining-credits): alert on it before the provider refuses.");
        meter.CreateObservableCounter("gateway.config.reloads", () => new[]
        {
            new Measurement<long>(config.AcceptedReloads, new KeyValuePair<string, object?>("gateway.result", "accepted")),
            new Measurement<long>(config.RejectedReloads, new KeyValuePair<string, object?>("gateway.result", "rejected")),
        }, "{reload}", "Configuration changes taken or refused at run time.");
        meter.CreateObservableGauge("gateway.usage.buffer.depth", () => (long)usage.BufferDepth, "{record}",
            "Usage records waiting in memory for the usage store.");
        meter.CreateObservableGauge("gateway.ratelimit.settlements.pending", () => (long)settlements.Pending, "{settlement}",
            "Rate-limit settlements this replica has not yet had taken by the limits store (queued or retrying): while above zero, " +
            "slots and budget reservations of finished requests are still held.");
        meter.CreateObservableGauge("gateway.usage.spill.size", () => usage.SpillBytes, "By",
            "Bytes of usage records in the local spill files, waiting for the store.");
        meter.CreateObservableGauge("gateway.circuit.state", () => health.All.Select(h => new Measurement<int>(
                (int)h.Circuit.View(clock.GetUtcNow()).State, new KeyValuePair<string, object?>(GatewayMetrics.Deployment, h.Id))),
            "{state}", "Each deployment's circuit on this replica: 0 closed, 1 open (skipped), 2 half-open (one probe let through).");
        meter.CreateObservableGauge("gateway.deployment.in_flight", () => health.All.Select(h => new Measurement<int>(
                h.InFlight, new KeyValuePair<string, object?>(GatewayMetrics.Deployment, h.Id))),
            "{attempt}", "Attempts in flight at each deployment on this replica.");
        meter.CreateObservableGauge("gateway.deployment.latency", () => health.All.Where(h => h.LatencyMilliseconds is not null).Select(h =>
                new Measurement<double>(h.LatencyMilliseconds!.Value / 1000, new KeyValuePair<string, object?>(GatewayMetrics.Deployment, h.Id))),
            "s", "Smoothed time to the first token of each deployment's successful attempts, as the lowest-latency strategy sees it.");
    }
}
