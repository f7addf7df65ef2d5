namespace Gateway.Telemetry;

/// <summary>
/// gateway.json <c>Telemetry</c>; read at start-up. OTLP export is configured the OpenTelemetry way,
/// by the standard variables (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, …).
/// </summary>
public sealed class TelemetryOptions
{
    /// <summary>The <c>service.name</c> resource attribute of every metric and span.</summary>
    public string ServiceName { get; set; } = "llm-gateway";

    /// <summary>
    /// Puts client key names on metrics and spans (<c>gateway.key</c>). Off by default: one series per
    /// key can be many series. The key itself never appears anywhere.
    /// </summary>
    public bool KeyNamesInMetrics { get; set; }

    /// <summary>Share of new traces recorded (0..1); a sampled incoming <c>traceparent</c> is always followed.</summary>
    public double TraceSampleRatio { get; set; } = 1.0;

    /// <summary>
    /// Also export the framework's own instruments: ASP.NET Core and Kestrel (server side), HttpClient
    /// towards the providers, and the .NET runtime.
    /// </summary>
    public bool FrameworkMetrics { get; set; } = true;

    public PrometheusOptions Prometheus { get; set; } = new();
}

/// <summary>The Prometheus scrape endpoint. It needs no client key, so keep it off public listeners or move it to its own port.</summary>
public sealed class PrometheusOptions
{
    public bool Enabled { get; set; } = true;

    public string Path { get; set; } = "/metrics";

    /// <summary>
    /// Serve the endpoint only on this port (an extra listener on all interfaces, e.g. 9464), not on the
    /// gateway's own port. Unset: on the gateway's port.
    /// </summary>
    public int? Port { get; set; }
}
