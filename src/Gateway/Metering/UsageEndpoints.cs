using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Auth;
using Gateway.Errors;
using Gateway.Translators.Contract;
using Gateway.Requests;

namespace Gateway.Metering;

/// <summary>
/// <c>GET /v1/usage</c>: a key's own usage. <c>GET /admin/usage</c>: everyone's, for admin keys.
/// Both take <c>start</c>/<c>end</c> (UTC days, default the last 30), <c>group_by</c> (any of
/// day, hour (the last 3 days only), key, team, model, provider) and <c>format</c> (json or csv); the admin view also
/// filters by <c>key</c>, <c>team</c>, <c>model</c> and <c>provider</c>.
/// </summary>
internal sealed partial class UsageEndpoints(IUsageStore store, UsageReadGate gate, MeteringSettings settings, TimeProvider clock, ILogger<UsageEndpoints> logger)
{
    /// <summary>The most rows one answer holds; a range and grouping that would make more is refused with a hint.</summary>
    public const int MaxRows = 100_000;

    public Task OwnAsync(HttpContext context) => HandleAsync(context, admin: false);

    public Task AdminAsync(HttpContext context) => HandleAsync(context, admin: true);

    private async Task HandleAsync(HttpContext context, bool admin)
    {
        // The endpoint's policy admitted the key (any key for its own usage, an admin key for everyone's).
        var key = context.Key();

        var (query, error) = Parse(context.Request.Query, admin ? null : key.Name, admin);
        if (query is null)
        {
            await ErrorWriter.WriteAsync(context, error!);
            return;
        }

        using var lease = await gate.EnterAsync(key, context.RequestAborted);
        if (lease is null)
        {
            await ErrorWriter.WriteAsync(context, new GatewayError(429, "requests",
                "Usage is being read for this key already, or this replica is busy with usage reads; retry shortly.", Code: "usage_read_busy")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            });
            return;
        }

        // A key's own view reads only that key's rollups; the admin view reads everyone's, one period at a time.
        var aggregate = new UsageAggregate(query, MaxRows);
        try
        {
            await store.ReadRollupsAsync(query.Days(), admin ? UsageScope.Everyone : UsageScope.Own(key), aggregate.Add, context.RequestAborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Log.ReadFailed(logger, ex.GetType().Name, ex.Message);
            await ErrorWriter.WriteAsync(context, new GatewayError(503, "server_error", "Usage cannot be read right now; retry shortly.",
                Code: "usage_store_unavailable") { RetryAfter = TimeSpan.FromSeconds(1) });
            return;
        }

        if (aggregate.Overflowed)
        {
            await ErrorWriter.WriteAsync(context, Bad($"The answer would have more than {MaxRows:N0} rows; narrow the range, filter, or group by fewer dimensions.", "group_by"));
            return;
        }

        var rows = aggregate.Rows();
        if (context.Request.Query["format"] == "csv")
        {
            context.Response.ContentType = "text/csv; charset=utf-8";
            await WriteCsvAsync(context.Response, query, rows, context.RequestAborted);
            return;
        }

        context.Response.ContentType = "application/json";
        await using (var w = new Utf8JsonWriter(context.Response.BodyWriter, OpenAiJson.WriterOptions))
        {
            await WriteJsonAsync(w, context.Response, query, rows, context.RequestAborted);
        }

        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private (UsageQuery? Query, GatewayError? Error) Parse(IQueryCollection q, string? ownKey, bool admin)
    {
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        if (!TryDay(q["start"], today.AddDays(-29), out var from) || !TryDay(q["end"], today, out var to))
        {
            return (null, Bad("Dates are written YYYY-MM-DD.", q.ContainsKey("start") ? "start" : "end"));
        }

        if (to < from || to.DayNumber - from.DayNumber >= settings.RetentionDays)
        {
            return (null, Bad($"'end' must not be before 'start', and the range at most {settings.RetentionDays} days.", "end"));
        }

        var groupBy = ((string?)q["group_by"] ?? "day").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (groupBy.FirstOrDefault(g => !UsageQuery.Dimensions.Contains(g)) is { } unknown)
        {
            return (null, Bad($"Cannot group by '{unknown}'; use any of {string.Join(", ", UsageQuery.Dimensions)}.", "group_by"));
        }

        if (groupBy.Contains("hour") && (from < today.AddDays(1 - UsageQuery.HourlyDays) || to > today))
        {
            return (null, Bad($"Hourly usage covers the last {UsageQuery.HourlyDays} days (UTC): 'start' at or after {today.AddDays(1 - UsageQuery.HourlyDays):yyyy-MM-dd}.", "start"));
        }

        if (q["format"] is { Count: > 0 } format && format != "json" && format != "csv")
        {
            return (null, Bad("'format' is json or csv.", "format"));
        }

        return (new UsageQuery(from, to, ownKey ?? (admin ? (string?)q["key"] : null), q["model"], q["provider"], groupBy.Distinct().ToList())
        {
            Team = admin ? (string?)q["team"] : null,
        }, null);
    }

    private static bool TryDay(string? text, DateOnly fallback, out DateOnly day)
    {
        if (string.IsNullOrEmpty(text))
        {
            day = fallback;
            return true;
        }

        return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }

    private static GatewayError Bad(string message, string param) => new(400, "invalid_request_error", message, param, "invalid_value");

    // Rows go out in slices, flushed as they are written: the answer never sits whole in memory.
    private const int RowsPerFlush = 1000;

    private static async Task WriteJsonAsync(Utf8JsonWriter w, HttpResponse response, UsageQuery query,
        List<(Dictionary<string, string> Group, RollupTotals Totals)> rows, CancellationToken cancellationToken)
    {
        w.WriteStartObject();
        w.WriteString("object"u8, "usage"u8);
        w.WriteString("start"u8, query.From.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        w.WriteString("end"u8, query.To.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        w.WriteStartArray("group_by"u8);
        foreach (var g in query.GroupBy)
        {
            w.WriteStringValue(g);
        }

        w.WriteEndArray();
        w.WriteStartArray("data"u8);
        var totals = new RollupTotals();
        for (var i = 0; i < rows.Count; i++)
        {
            var (group, row) = rows[i];
            w.WriteStartObject();
            foreach (var (dimension, value) in group)
            {
                w.WriteString(dimension, value);
            }

            WriteTotals(w, row);
            w.WriteEndObject();
            totals.Add(row);
            if ((i + 1) % RowsPerFlush == 0)
            {
                await w.FlushAsync(cancellationToken);
                await response.BodyWriter.FlushAsync(cancellationToken);
            }
        }

        w.WriteEndArray();
        w.WriteStartObject("totals"u8);
        WriteTotals(w, totals);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteTotals(Utf8JsonWriter w, RollupTotals t)
    {
        var values = t.Values();
        for (var i = 0; i < RollupTotals.Metrics.Length; i++)
        {
            w.WriteNumber(RollupTotals.Metrics[i], values[i]);
        }

        w.WriteNumber("total_tokens"u8, t.PromptTokens + t.CompletionTokens);
        w.WriteString("cost_usd"u8, Money.Usd(t.CostMicros));
    }

    // Columns added after the first release (cache_hits, saved_micros) come after cost_usd, so a script that reads the
    // older columns by position keeps working.
    private const int FirstReleaseMetrics = 7;

    private static async Task WriteCsvAsync(HttpResponse response, UsageQuery query, List<(Dictionary<string, string> Group, RollupTotals Totals)> rows,
        CancellationToken cancellationToken)
    {
        var csv = new StringBuilder();
        csv.AppendJoin(',', query.GroupBy.Concat(RollupTotals.Metrics[..FirstReleaseMetrics]).Append("total_tokens").Append("cost_usd")
            .Concat(RollupTotals.Metrics[FirstReleaseMetrics..])).Append('\n');
        for (var i = 0; i < rows.Count; i++)
        {
            var (group, totals) = rows[i];
            var values = totals.Values().Select(v => v.ToString(CultureInfo.InvariantCulture)).ToArray();
            csv.AppendJoin(',', query.GroupBy.Select(d => Quote(group[d]))
                .Concat(values[..FirstReleaseMetrics])
                .Append((totals.PromptTokens + totals.CompletionTokens).ToString(CultureInfo.InvariantCulture))
                .Append(Money.Usd(totals.CostMicros))
                .Concat(values[FirstReleaseMetrics..])).Append('\n');
            if ((i + 1) % RowsPerFlush == 0)
            {
                await response.WriteAsync(csv.ToString(), cancellationToken);
                csv.Clear();
            }
        }

        await response.WriteAsync(csv.ToString(), cancellationToken);
    }

    // RFC 4180 quoting, and no leading = + - @ that a spreadsheet would run as a formula.
    private static string Quote(string value)
    {
        if (value.Length > 0 && "=+-@".Contains(value[0], StringComparison.Ordinal))
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    private static partial class Log
    {
        [LoggerMessage(66, LogLevel.Warning, "Reading usage failed ({Error}: {Message}); the caller was told to retry")]
        public static partial void ReadFailed(ILogger logger, string error, string message);
    }
}
