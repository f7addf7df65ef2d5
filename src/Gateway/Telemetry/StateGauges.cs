using System.Diagnostics.Metrics;
using Gateway.Configuration;
using Gateway.Metering;

namespace Gateway.Telemetry;

/// <summary>
/// Gauges read from the state of other components when a reader collects them, so those
/// components keep no telemetry code: configuration reloads, the usage buffer and its spill file.
/// </summary>
internal sealed class StateGauges
{
    public StateGauges(GatewayMetrics metrics, ConfigStore config, UsagePipeline usage)
    {
        var meter = metrics.Meter;
        meter.CreateObservableCounter("gateway.config.reloads", () => new[]
        {
            new Measurement<long>(config.AcceptedReloads, new KeyValuePair<string, object?>("gateway.result", "accepted")),
            new Measurement<long>(config.RejectedReloads, new KeyValuePair<string, object?>("gateway.result", "rejected")),
        }, "{reload}", "Configuration changes taken or refused at run time.");
        meter.CreateObservableGauge("gateway.usage.buffer.depth", () => (long)usage.BufferDepth, "{record}",
            "Usage records waiting in memory for the usage store.");
        meter.CreateObservableGauge("gateway.usage.spill.size", () => usage.SpillBytes, "By",
            "Bytes of usage records in the local spill files, waiting for the store.");
    }
}
