using Microsoft.Extensions.Options;
using ProviderSimulator.Providers;

namespace ProviderSimulator;

/// <summary>
/// Serves every provider at its real path on one port, so a gateway.json whose base URLs point
/// here works unchanged. Control endpoints live under <c>/_sim</c>.
/// </summary>
public static class SimulatorApp
{
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.Configure<SimulatorOptions>(builder.Configuration.GetSection("Sim"));
        builder.Services.AddSingleton<RequestLog>();
        builder.Services.AddSingleton<RunFaults>();
        builder.Services.AddSingleton<Gates>();
        builder.Services.AddHttpClient("callbacks", c => c.Timeout = TimeSpan.FromSeconds(10));
        configure?.Invoke(builder);

        var app = builder.Build();
        var log = app.Services.GetRequiredService<RequestLog>();
        var faults = app.Services.GetRequiredService<RunFaults>();
        var options = app.Services.GetRequiredService<IOptions<SimulatorOptions>>().Value;

        var hiveV3 = new HiveV3Provider(log, faults.Get, options.HiveV3, options.AcceptUndocumented);
        var deepInfra = new DeepInfraProvider(log, faults.Get, options.DeepInfra, options.AcceptUndocumented);
        var segmind = new SegmindProvider(log, faults.Get, options.Segmind, options.AcceptUndocumented);
        var hiveV2 = new HiveV2Provider(log, faults.Get, options.HiveV2, app.Services.GetRequiredService<IHttpClientFactory>());

        app.MapPost("/api/v3/chat/completions", (HttpContext c) => hiveV3.HandleAsync(c));
        app.MapPost("/v1/openai/chat/completions", (HttpContext c) => deepInfra.HandleAsync(c));
        app.MapPost("/v1/{slug}", (HttpContext c, string slug) => segmind.HandleAsync(c, slug));
        app.MapPost("/api/v2/task/async", hiveV2.SubmitAsync);
        app.MapPost("/api/v1/task/async", hiveV2.SubmitAsync);
        app.MapGet("/api/v2/task/{id}", (HttpContext c, string id) => hiveV2.PollAsync(c, id));
        app.MapGet("/_sim/callbacks", () => Results.Json(hiveV2.Callbacks));

        app.MapGet("/_sim/requests", () => Results.Json(log.All));
        app.MapDelete("/_sim/requests", () =>
        {
            log.Clear();
            return Results.NoContent();
        });
        app.MapPost("/_sim/faults", async (HttpContext c) =>
        {
            using var reader = new StreamReader(c.Request.Body);
            faults.Set(await reader.ReadToEndAsync());
            return Results.NoContent();
        });
        app.MapDelete("/_sim/faults", () =>
        {
            faults.Set(null);
            return Results.NoContent();
        });
        var gates = app.Services.GetRequiredService<Gates>();
        app.MapGet("/_sim/gates/{name}", (string name) => Results.Json(new { arrived = gates.For(name).Arrived, held = gates.For(name).Held }));
        app.MapPost("/_sim/gates/{name}/open", (string name) =>
        {
            gates.For(name).Open();
            return Results.NoContent();
        });
        app.MapGet("/_sim/health", () => "ok");
        return app;
    }
}

/// <summary>Knobs applied to every request until cleared (<c>POST /_sim/faults</c> with e.g. "status=503 only=hive-v3").</summary>
public sealed class RunFaults
{
    private volatile Directives _current = Directives.None;

    public Directives Get() => _current;

    public void Set(string? text) => _current = string.IsNullOrWhiteSpace(text) ? Directives.None : Directives.Parse($"[sim {text}]");
}
