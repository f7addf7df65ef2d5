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

    // Seed 003's parameter list, with its ranges. Not in it (so each deployment decides): n, stop, logit_bias, logprobs,
    // top_logprobs, response_format, tools, parallel_tool_calls, stream_options.
    private static readonly ParameterSupport Support = new()
    {
        Documented = new Dictionary<string, ParameterRange?>
        {
            ["max_tokens"] = new(0, 1_000_000, ClampByDefault: true),
            ["temperature"] = new(0, 2),
            ["top_p"] = new(0, 1, MinExclusive: true),
            ["seed"] = null,
            ["presence_penalty"] = new(-2, 2),
            ["frequency_penalty"] = new(-2, 2),
            ["user"] = null,
            ["tool_choice"] = null,
        },
        Extras = new HashSet<string>(StringComparer.Ordinal) { "top_k", "min_p", "repetition_penalty" },
    };

    public override string Kind => KindName;

    protected override bool AcceptsStreamOptions => true;

    // "conversation messages: (user,assistant,tool)*,user including one system message anywhere".
    private static readonly MessageRules Rules = MessageRules.OpenAi with { SingleSystemMessage = true };

    protected override MessageRules Messages => Rules;

    // "specifying a particular function choice is not supported currently": none or auto only.
    protected override RequestError? CheckValues(ChatCompletionRequest gated, DeploymentTarget target) =>
        gated.ToolChoice is { ValueKind: not System.Text.Json.JsonValueKind.String }
            ? new RequestError($"Model '{target.PublicModel}' takes tool_choice \"none\" or \"auto\" only; naming a function is not supported by its provider.",
                "tool_choice", "unsupported_parameter")
            : null;

    protected override ParameterSupport Parameters => Support;

    public override string RequestPath(DeploymentTarget target) => "/v1/openai/chat/completions";

    public override long? ReportedCostMicros(Usage? usage, Func<string, string?> header) => UsdExtraToMicros(usage, "estimated_cost");

    // The seed's own stream sample ends its text with the model's end-of-sequence token as content.
    public override string? EndOfSequenceMarker => "</s>";
}
