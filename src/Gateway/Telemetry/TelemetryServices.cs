using Gateway.Requests;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Telemetry;

/// <summary>
/// OpenTelemetry for the gateway: metrics always (Prometheus text at <c>/metrics</c>, and OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set), traces when an OTLP endpoint is set.
/// </summary>
internal static class TelemetryServices
{
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    private static readonly string[] DroppedFrameworkInstruments =
    [
        "http.server.active_requests", "aspnetcore.routing.match_attempts", "kestrel.*",
        "http.client.active_requests", "http.client.open_connections", "http.client.request.time_in_queue", "http.client.connection.duration",
    ];

    public static TelemetryOptions Read(IConfiguration configuration) =>
        configuration.GetSection("Telemetry").Get<TelemetryOptions>() ?? new TelemetryOptions();

    /// <summary>An extra listener for the scrape endpoint when it has a port of its own.</summary>
    public static void AddMetricsListener(WebApplicationBuilder builder)
    {
        if (Read(builder.Configuration).Prometheus is { Enabled: true, Port: { } port })
        {
            var urls = builder.WebHost.GetSetting(WebHostDefaults.ServerUrlsKey);
            builder.WebHost.UseUrls((string.IsNullOrWhiteSpace(urls) ? "http://localhost:5000" : urls) + $";http://*:{port}");
        }
    }

    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var options = Read(configuration);
        services.AddSingleton(options);
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<RequestTelemetry>();
        services.AddSingleton<StateGauges>();

        var otlp = !string.IsNullOrWhiteSpace(configuration[OtlpEndpointVariable]);
        var otel = services.AddOpenTelemetry().ConfigureResource(r => r.AddService(options.ServiceName, serviceInstanceId: Environment.MachineName));
        if (options.Prometheus.Enabled || otlp)
        {
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter(GatewayTelemetry.MeterName);
                if (options.FrameworkMetrics)
                {
                    metrics.AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddRuntimeInstrumentation();
                    // Per-request bookkeeping instruments (active counts, connection states, queue times, route
                    // matching) cost more than they tell a gateway's operator: the durations stay.
                    foreach (var dropped in DroppedFrameworkInstruments)
                    {
                        metrics.AddView(dropped, MetricStreamConfiguration.Drop);
                    }
                }

                if (options.Prometheus.Enabled)
                {
                    metrics.AddPrometheusExporter();
                }

                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }
            });
        }

        if (otlp)
        {
            otel.WithTracing(tracing => tracing
                .AddSource(GatewayTelemetry.ActivitySourceName)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(Math.Clamp(options.TraceSampleRatio, 0, 1))))
                .AddAspNetCoreInstrumentation(o =>
                {
                    // Probes and scrapes are not requests worth a trace.
                    o.Filter = context => !IsInfrastructure(context.Request.Path, options);
                    // The callback path carries a signed token: keep it out of every span.
                    o.EnrichWithHttpRequest = (activity, request) =>
                    {
                        if (request.Path.StartsWithSegments(GatewayPaths.TaskCallbacks.TrimEnd('/')))
                        {
                            activity.SetTag("url.path", GatewayPaths.TaskCallbacks + "{token}");
                        }
                    };
                })
                .AddOtlpExporter());
        }

        return services;
    }

    /// <summary>Serves <c>/metrics</c> (on its own port when configured) and registers the gauges of gateway state.</summary>
    public static void MapGatewayTelemetry(this WebApplication app)
    {
        app.Services.GetRequiredService<StateGauges>();
        var options = app.Services.GetRequiredService<TelemetryOptions>().Prometheus;
        if (!options.Enabled)
        {
            return;
        }

        var path = new PathString(options.Path);
        if (options.Port is { } port)
        {
            // The metrics port serves metrics and nothing else.
            app.Use((context, next) => context.Connection.LocalPort == port && !context.Request.Path.Equals(path)
                ? WriteNotFound(context)
                : next(context));
        }

        app.UseOpenTelemetryPrometheusScrapingEndpoint(context =>
            context.Request.Path.Equals(path) && (options.Port is null || context.Connection.LocalPort == options.Port));
    }

    private static Task WriteNotFound(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }

    private static bool IsInfrastructure(PathString path, TelemetryOptions options) =>
        path.Equals(options.Prometheus.Path) || path.Equals("/healthz") || path.Equals("/readyz");
}
