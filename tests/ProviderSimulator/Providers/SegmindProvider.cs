using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ProviderSimulator.Providers;

/// <summary>
/// Segmind <c>POST /v1/{slug}</c>: <c>x-api-key</c>, plain-string messages, no streaming,
/// <c>{"error":"..."}</c> errors, 405 as an HTML page, 406 for credits, usage only if configured,
/// <c>x-remaining-credits</c> and <c>x-cost</c> headers, 429 with <c>x-rate-limit-reset-at-utc</c>.
/// </summary>
public sealed class SegmindProvider(RequestLog log, Func<Directives> runFaults, SegmindOptions options, bool acceptUndocumented)
    : OpenAiLikeProvider(log, runFaults, acceptUndocumented)
{
    // Seed 004: the body is "messages", nothing else (the model is the URL's slug).
    protected override IReadOnlySet<string> DocumentedFields { get; } = new HashSet<string>(StringComparer.Ordinal) { "messages" };

    private long _creditsMicros = 100_000_000;

    public override string Name => "segmind";

    protected override bool SupportsStreaming => false;

    protected override bool IsAuthorized(HttpRequest request) => request.Headers["x-api-key"].ToString() == options.ApiKey;

    protected override (byte[] Body, string ContentType) ErrorBody(int status, string message) => status switch
    {
        405 => (Encoding.UTF8.GetBytes("<html><head><title>405 Method Not Allowed</title></head><body>Method Not Allowed</body></html>"), "text/html"),
        _ => (JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["error"] = message }), "application/json"),
    };

    protected override (int Status, string Message)? Validate(ChatRequestView r, string? slug)
    {
        if (slug is null || !options.Slugs.Contains(slug))
        {
            return (404, "The requested URL does not exist");
        }

        return null;
    }

    protected override void AddAnswerHeaders(SimExchange x, ReplyPlan plan)
    {
        var remaining = Interlocked.Add(ref _creditsMicros, -(long)(options.CostPerRequestUsd * 1_000_000m));
        x.Context.Response.Headers["x-remaining-credits"] = (remaining / 1_000_000m).ToString(CultureInfo.InvariantCulture);
        x.Context.Response.Headers["x-cost"] = options.CostPerRequestUsd.ToString(CultureInfo.InvariantCulture);
    }

    // Segmind's 429 names the instant the limit resets instead of sending Retry-After [O].
    protected override void SetRetryHeaders(SimExchange x)
    {
        if (x.Knobs.Int("retry_after") is { } seconds)
        {
            x.Context.Response.Headers["x-rate-limit-reset-at-utc"] = DateTimeOffset.UtcNow.AddSeconds(seconds).ToString("O", CultureInfo.InvariantCulture);
        }
    }

    protected override byte[] CompletionBody(SimExchange x, ChatRequestView r, ReplyPlan plan, string id) =>
        OpenAiShapes.Completion(id, x.Context.Request.RouteValues["slug"]?.ToString() ?? "segmind", plan,
            includeUsage: options.IncludeUsage && !x.Knobs.Flag("no_usage"));

    protected override Task StreamAsync(SimExchange x, ChatRequestView r, ReplyPlan plan, string id) =>
        throw new NotSupportedException("Segmind does not stream.");
}
