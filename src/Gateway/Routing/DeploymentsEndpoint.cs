using System.Text.Json;
using Gateway.Configuration;

namespace Gateway.Routing;

/// <summary>
/// <c>GET /admin/deployments</c> (admin keys only): every model's deployments as this replica sees them: routing
/// strategy, circuit state, consecutive failures, cool-down end, attempts in flight, smoothed latency. Circuits opened by
/// other replicas show here too once announced through Redis; failure counts and latency are this replica's own.
/// </summary>
internal sealed class DeploymentsEndpoint(ConfigStore config, DeploymentHealthRegistry health, TimeProvider clock)
{
    public async Task HandleAsync(HttpContext context)
    {
        var now = clock.GetUtcNow();
        context.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(context.Response.Body);
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        foreach (var route in config.Current.Models.Values.OrderBy(m => m.Name, StringComparer.Ordinal))
        {
            w.WriteStartObject();
            w.WriteString("model", route.Name);
            w.WriteString("strategy", RoutingStrategies.Names[(int)route.Strategy]);
            w.WriteStartArray("deployments");
            foreach (var d in route.Deployments)
            {
                var h = health.For(d);
                var circuit = h.Circuit.View(now);
                w.WriteStartObject();
                w.WriteString("id", d.Id);
                w.WriteString("provider", d.Provider.Name);
                w.WriteString("kind", d.Provider.Translator.Kind);
                w.WriteString("upstream_model", d.Target.UpstreamModel);
                w.WriteNumber("weight", d.Weight);
                w.WriteString("circuit", circuit.State switch { CircuitState.Open => "open", CircuitState.HalfOpen => "half_open", _ => "closed" });
                w.WriteNumber("consecutive_failures", circuit.ConsecutiveFailures);
                if (circuit.OpenUntil is { } until && until > now)
                {
                    w.WriteString("open_until", until.UtcDateTime.ToString("O"));
                }

                w.WriteNumber("in_flight", h.InFlight);
                if (h.LatencyMilliseconds is { } latency)
                {
                    w.WriteNumber("latency_ms", Math.Round(latency, 1));
                }

                w.WriteNumber("latency_samples", h.LatencySamples);
                w.WriteBoolean("has_key", !string.IsNullOrEmpty(d.Provider.ApiKey));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }
}
