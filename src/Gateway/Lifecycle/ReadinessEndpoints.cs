using System.Text.Json;

namespace Gateway.Lifecycle;

/// <summary>
/// <c>/healthz</c>: the process answers. <c>/readyz</c>: this replica should receive traffic (200 <c>ready</c>), or not
/// (503 <c>starting</c> / <c>draining</c>). Problems every replica shares (no client keys, a provider key unset, Redis
/// unreachable) are reported by <c>/readyz?verbose</c> (to an admin key) but do not make a replica unready: taking all replicas out of
/// the balancer would turn a degraded service into none.
/// </summary>
internal static class ReadinessEndpoints
{
    public static void Map(WebApplication app)
    {
        var lifecycle = app.Services.GetRequiredService<GatewayLifecycle>();
        var checks = app.Services.GetRequiredService<StartupChecks>();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (HttpContext context) =>
        {
            var state = lifecycle.State;
            context.Response.StatusCode = state == ReplicaState.Ready ? 200 : 503;
            if (!context.Request.Query.ContainsKey("verbose"))
            {
                context.Response.ContentType = "text/plain";
                await context.Response.WriteAsync(state == ReplicaState.Ready ? "ready" : state.ToString().ToLowerInvariant());
                return;
            }

            // The checks name provider key variables, paths and counts: an admin key's business, not a stranger's. The
            // plain answer above stays public for probes; without an admin key the detail is refused with a hint.
            var key = await Auth.AuthenticatedKeys.OptionalKeyAsync(context);
            if (key is not { IsAdmin: true })
            {
                context.Response.ContentType = "application/json";
                await using var refusal = new Utf8JsonWriter(context.Response.Body);
                refusal.WriteStartObject();
                refusal.WriteString("status", state.ToString().ToLowerInvariant());
                refusal.WriteString("checks", "send an admin key (Authorization: Bearer) to see the checks; the gateway's first log lines list them too");
                refusal.WriteEndObject();
                return;
            }

            context.Response.ContentType = "application/json";
            await using var w = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Indented = true });
            w.WriteStartObject();
            w.WriteString("status", state.ToString().ToLowerInvariant());
            w.WriteStartArray("checks");
            foreach (var check in checks.Run())
            {
                w.WriteStartObject();
                w.WriteString("name", check.Name);
                w.WriteString("status", check.Status);
                w.WriteString("detail", check.Detail);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }
}
