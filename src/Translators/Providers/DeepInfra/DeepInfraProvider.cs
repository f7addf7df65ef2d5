using Gateway.Translators.Contract;
using Gateway.Translators.Providers.OpenAiCompatible;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.DeepInfra;

/// <summary>
/// DeepInfra's OpenAI-compatible endpoint (PROVIDERS.md §4): bearer key, OpenAI parameters plus
/// its own (<c>top_k</c>, <c>min_p</c>, <c>repetition_penalty</c>, passed through), usage with
/// <c>estimated_cost</c> in USD.
/// </summary>
public sealed class DeepInfraProvider : OpenAiCompatibleProvider
{
    public const string KindName = "deepinfra";

    private static readonly ParameterSupport Support = new()
    {
        Supported = new Dictionary<string, ParameterRange?>
        {
            // Seed 003: 0 <= max_tokens <= 1,000,000.
            ["max_tokens"] = new(0, 1_000_000, ClampByDefault: true),
            ["temperature"] = new(0, 2),
            ["top_p"] = null,
            ["n"] = null,
            ["stop"] = null,
            ["seed"] = null,
            ["presence_penalty"] = null,
            ["frequency_penalty"] = null,
            ["logit_bias"] = null,
            ["logprobs"] = null,
            ["top_logprobs"] = null,
            ["user"] = null,
            ["response_format"] = null,
            ["tools"] = null,
            ["tool_choice"] = null,
            ["parallel_tool_calls"] = null,
        },
        Extras = new HashSet<string>(StringComparer.Ordinal) { "top_k", "min_p", "repetition_penalty" },
    };

    public override string Kind => KindName;

    protected override bool AcceptsStreamOptions => true;

    protected override ParameterSupport Parameters => Support;

    public override string RequestPath(DeploymentTarget target) => "/v1/openai/chat/completions";

    public override long? ReportedCostMicros(Usage? usage, Func<string, string?> header) => UsdExtraToMicros(usage, "estimated_cost");

    // The seed's own stream sample ends its text with the model's end-of-sequence token as content.
    public override string? EndOfSequenceMarker => "</s>";
}
