using System.Text.Json;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.RateLimiting;
using Gateway.Translators.Contract;

namespace Gateway.Dashboard;

/// <summary>
/// The operator's dashboard: <c>GET /admin</c> (the page) and <c>/admin/assets/*</c> (its script, styles and the charting
/// library, embedded in the gateway: it works offline), and the two data calls the page adds to <c>/admin/usage</c>:
/// <c>GET /admin/limits</c> (each key's limits and what is left of them now) and <c>GET /admin/stats</c> (provider health
/// from this replica's metrics). The page holds the admin key in session storage and sends it as a bearer token.
/// </summary>
internal sealed partial class DashboardEndpoints(ConfigStore config, Keys.RuntimeKeys runtimeKeys, ILimitEngine limits, ReplicaStats stats,
    Forwarding.ProviderAccounts accounts, DashboardAssets assets, ILogger<DashboardEndpoints> logger)
{
    public static void Map(WebApplication app)
    {
        var endpoints = app.Services.GetRequiredService<DashboardEndpoints>();
        app.MapGet("/admin", endpoints.PageAsync);
        app.MapGet("/admin/assets/{**name}", (HttpContext context, string name) => endpoints.AssetAsync(context, name));
        app.MapGet("/admin/limits", endpoints.LimitsAsync).RequireAdmin("the keys' limits");
        app.MapGet("/admin/stats", endpoints.StatsAsync).RequireAdmin("the gateway's statistics");
    }

    private Task PageAsync(HttpContext context) => AssetAsync(context, "index.html");

    private async Task AssetAsync(HttpContext context, string name)
    {
        if (assets.Find(name) is not { } asset)
        {
            await ErrorWriter.WriteAsync(context, GatewayError.UnknownRoute("GET", context.Request.Path));
            return;
        }

        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Scripts only from here: an injected <script> in a key or model name cannot run. uPlot sizes its elements with
        // inline styles, hence 'unsafe-inline' for styles only.
        headers.ContentSecurityPolicy =
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
        headers.CacheControl = "no-cache";
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            context.Response.StatusCode = StatusCodes.Status304NotModified;
            return;
        }

        context.Response.ContentType = asset.ContentType;
        context.Response.ContentLength = asset.Bytes.Length;
        await context.Response.Body.WriteAsync(asset.Bytes, context.RequestAborted);
    }

    /// <summary>The most keys one answer covers unless asked for more (<c>limit</c>, at most <see cref="MaxKeys"/>).</summary>
    private const int DefaultKeys = 1_000;
    private const int MaxKeys = 10_000;

    // Peeks in flight at once: a fleet's many keys must not become one burst of scripts on the connection admissions use.
    private const int PeeksInFlight = 64;

    /// <summary>
    /// Keys' limits, what the current window and period hold, and what is left: the keys named by <c>key</c> (repeatable),
    /// or the first <c>limit</c> keys by name (1,000 by default; <c>has_more</c> says when there are more). Bounded, so a
    /// hundred thousand runtime keys are not a hundred thousand scripts for one page load.
    /// </summary>
    private async Task LimitsAsync(HttpContext context)
    {
        var snapshot = config.Current;
        var named = context.Request.Query["key"];
        var take = int.TryParse(context.Request.Query["limit"], out var n) ? Math.Clamp(n, 1, MaxKeys) : DefaultKeys;
        var all = snapshot.KeysByHash.Values.Concat(runtimeKeys.Keys(snapshot));
        if (named.Count > 0)
        {
            var wanted = named.ToHashSet(StringComparer.Ordinal);
            all = all.Where(k => wanted.Contains(k.Name));
        }

        var ordered = all.OrderBy(k => k.Name, StringComparer.Ordinal).Take(take + 1).ToList();
        var hasMore = ordered.Count > take;
        var keys = ordered.Take(take).ToList();
        var plans = keys.Select(k => LimitPlan.Build("dashboard", k.Id, k.Limits, "", 0, 0, snapshot.Limiter, TimeSpan.FromMinutes(1))).ToList();
        var usage = new LimitUsage[plans.Count];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await Parallel.ForEachAsync(Enumerable.Range(0, plans.Count), new ParallelOptions { MaxDegreeOfParallelism = PeeksInFlight, CancellationToken = timeout.Token },
                async (i, _) => usage[i] = plans[i].IsEmpty ? LimitUsage.None : await limits.PeekAsync(plans[i]));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Log.PeekFailed(logger, ex.GetType().Name);
            await ErrorWriter.WriteAsync(context, new GatewayError(503, "server_error", "The limits cannot be read right now (is Redis reachable?); retry shortly.",
                Code: "limits_unavailable") { RetryAfter = TimeSpan.FromSeconds(1) });
            return;
        }

        context.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(context.Response.BodyWriter, OpenAiJson.WriterOptions);
        w.WriteStartObject();
        w.WriteString("object"u8, "list"u8);
        w.WriteNumber("window_seconds"u8, snapshot.Limiter.Window.TotalSeconds);
        w.WriteBoolean("has_more"u8, hasMore);
        w.WriteStartArray("data"u8);
        for (var i = 0; i < keys.Count; i++)
        {
            WriteKey(w, keys[i], plans[i], usage[i]);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteKey(Utf8JsonWriter w, ClientKey key, LimitPlan plan, LimitUsage usage)
    {
        w.WriteStartObject();
        w.WriteString("key"u8, key.Name);
        w.WriteBoolean("admin"u8, key.IsAdmin);
        w.WriteStartArray("limits"u8);
        for (var i = 0; i < plan.Windows.Count; i++)
        {
            var window = plan.Windows[i];
            WriteLimit(w, window.Kind == LimitKind.Tokens ? "tokens_per_window" : "requests_per_window", window.Limit, usage.WindowsUsed[i], window.Team);
        }

        for (var j = 0; j < plan.Concurrency.Count; j++)
        {
            WriteLimit(w, "concurrent_requests", plan.Concurrency[j].Limit, usage.InFlight[j], plan.Concurrency[j].Team);
        }

        for (var b = 0; b < plan.Budgets.Count; b++)
        {
            var budget = plan.Budgets[b];
            WriteLimit(w, budget.Period == BudgetPeriod.Day ? "budget_micros_per_day" : "budget_micros_per_month", budget.LimitMicros, usage.BudgetsSpentMicros[b],
                budget.Team);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteLimit(Utf8JsonWriter w, string kind, long limit, long used, string? team = null)
    {
        w.WriteStartObject();
        w.WriteString("kind"u8, kind);
        if (team is not null)
        {
            // The team's limit, shared with the team's other keys.
            w.WriteString("team"u8, team);
        }

        w.WriteNumber("limit"u8, limit);
        w.WriteNumber("used"u8, used);
        w.WriteNumber("remaining"u8, Math.Max(0, limit - used));
        w.WriteEndObject();
    }

    /// <summary>Provider health from this replica's metrics over the last <c>minutes</c> (1 to 60, default 15).</summary>
    private async Task StatsAsync(HttpContext context)
    {
        var minutes = int.TryParse(context.Request.Query["minutes"], out var m) ? Math.Clamp(m, 1, ReplicaStats.Minutes) : 15;
        var (providers, waiting) = stats.Read(minutes);
        context.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(context.Response.BodyWriter, OpenAiJson.WriterOptions);
        w.WriteStartObject();
        w.WriteString("object"u8, "replica_stats"u8);
        w.WriteString("replica"u8, Environment.MachineName);
        w.WriteNumber("minutes"u8, minutes);
        w.WriteStartArray("providers"u8);
        foreach (var p in providers)
        {
            w.WriteStartObject();
            w.WriteString("provider"u8, p.Provider);
            w.WriteNumber("requests"u8, p.Requests);
            w.WriteNumber("failures"u8, p.Failures);
            w.WriteNumber("fallbacks"u8, p.Fallbacks);
            Milliseconds(w, "first_token_p50_ms"u8, p.FirstTokenP50);
            Milliseconds(w, "first_token_p95_ms"u8, p.FirstTokenP95);
            Milliseconds(w, "total_p50_ms"u8, p.TotalP50);
            Milliseconds(w, "total_p95_ms"u8, p.TotalP95);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartObject("tasks_waiting"u8);
        foreach (var (provider, count) in waiting.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            w.WriteNumber(provider, count);
        }

        w.WriteEndObject();
        // Provider account balances as last reported to this replica (Segmind's x-remaining-credits).
        w.WriteStartArray("credits"u8);
        foreach (var (provider, balance) in accounts.Balances.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            w.WriteStartObject();
            w.WriteString("provider"u8, provider);
            w.WriteNumber("remaining"u8, balance.Remaining);
            w.WriteBoolean("low"u8, balance.Low);
            w.WriteString("at"u8, balance.At.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Milliseconds(Utf8JsonWriter w, ReadOnlySpan<byte> name, double? seconds)
    {
        if (seconds is { } s)
        {
            w.WriteNumber(name, Math.Round(s * 1000, 1));
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(130, LogLevel.Warning, "Dashboard: reading the keys' limits failed ({Error})")]
        public static partial void PeekFailed(ILogger logger, string error);
    }
}
