using System.Globalization;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers.OpenAiCompatible;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.Segmind;

/// <summary>
/// Segmind (PROVIDERS.md §5): <c>x-api-key</c>, the model as the URL slug, plain-string
/// messages, no streaming (clients get a synthesized stream), usage not guaranteed (the gateway
/// estimates it), 406 for exhausted credits, 429 with <c>x-rate-limit-reset-at-utc</c>.
/// </summary>
public sealed class SegmindProvider : OpenAiCompatibleProvider
{
    public const string KindName = "segmind";

    // Seed 004 documents only "messages": every parameter is undocumented, sent only where a deployment passes it.
    private static readonly ParameterSupport Support = new() { Documented = new Dictionary<string, ParameterRange?>() };

    private static readonly MessageRules Rules = new(ContentShape.PlainString, ToolMessages: false, ParticipantNames: false);

    public override string Kind => KindName;

    public override bool SupportsStreaming => false;

    // The slug in the URL names the model; the documented body is only "messages".
    protected override bool ModelInBody => false;

    protected override ParameterSupport Parameters => Support;

    protected override MessageRules Messages => Rules;

    public override string RequestPath(DeploymentTarget target) => "/v1/" + Uri.EscapeDataString(target.UpstreamModel);

    public override (string Name, string Value) AuthHeader(string apiKey) => ("x-api-key", apiKey);

    // Seed 004: "x-remaining-credits" carries the account's balance, the only account signal it documents.
    public override double? RemainingCredits(Func<string, string?> header) =>
        double.TryParse(header("x-remaining-credits"), NumberStyles.Float, CultureInfo.InvariantCulture, out var credits) ? credits : null;

    public override long? ReportedCostMicros(Usage? usage, Func<string, string?> header) =>
        double.TryParse(header("x-cost"), NumberStyles.Float, CultureInfo.InvariantCulture, out var usd)
            ? (long)Math.Round(usd * 1_000_000, MidpointRounding.AwayFromZero)
            : null;

    protected override UpstreamErrorClass Classify(int status) => status switch
    {
        // 406 means "not enough credits" (also seen for a bad content type, which this gateway never sends).
        406 => UpstreamErrorClass.Quota,
        _ => base.Classify(status),
    };

    protected override TimeSpan? ReadRetryAfter(Func<string, string?> header, DateTimeOffset now) =>
        base.ReadRetryAfter(header, now) ?? RetryAfter.FromInstant(header("x-rate-limit-reset-at-utc"), now);
}
