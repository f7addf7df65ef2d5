using System.Text.Json;
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
    // Its content parts are text: the seed documents no image, audio or file part (and its Llama models read text only), so
    // such a part goes only where the deployment passes its type (PassParameters: "image_url").
    private static readonly MessageRules Rules = MessageRules.OpenAi with { SingleSystemMessage = true, Content = ContentShape.TextParts };

    protected override MessageRules Messages => Rules;

    // Seed 003's ranges of its own parameters (sent as they are, so checked here): top_k 0 <= k < 1000, min_p 0..1,
    // repetition_penalty 0.01..5.
    private static readonly (string Name, double Min, double Max, bool MaxExclusive, bool Integer)[] ExtraRanges =
    [
        ("top_k", 0, 1000, true, true), ("min_p", 0, 1, false, false), ("repetition_penalty", 0.01, 5, false, false),
    ];

    protected override RequestError? CheckValues(ChatCompletionRequest gated, DeploymentTarget target) =>
        CheckToolChoice(gated, target) ?? CheckExtras(gated, target) ?? CheckLastMessage(gated, target);

    // "specifying a particular function choice is not supported currently": none or auto only (so not "required" either).
    private static RequestError? CheckToolChoice(ChatCompletionRequest gated, DeploymentTarget target) =>
        gated.ToolChoice is { } choice && !(choice.ValueKind == JsonValueKind.String && (choice.ValueEquals("none") || choice.ValueEquals("auto")))
            ? new RequestError($"Model '{target.PublicModel}' takes tool_choice \"none\" or \"auto\" only; its provider does not support naming a function or requiring a tool call.",
                "tool_choice", "unsupported_parameter")
            : null;

    private static RequestError? CheckExtras(ChatCompletionRequest gated, DeploymentTarget target)
    {
        foreach (var (name, min, max, maxExclusive, integer) in ExtraRanges)
        {
            if (gated.ExtensionData?.TryGetValue(name, out var value) != true)
            {
                continue;
            }

            var ok = value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && number >= min &&
                (maxExclusive ? number < max : number <= max) && (!integer || Math.Floor(number) == number);
            if (!ok)
            {
                var range = maxExclusive ? $"{min} or more and less than {max}" : $"{min} to {max}";
                return new RequestError($"Invalid value for '{name}': model '{target.PublicModel}' accepts {(integer ? "an integer " : "")}{range}.",
                    name, "invalid_value");
            }
        }

        return null;
    }

    // "conversation messages: (user,assistant,tool)*,user": the conversation ends with the user's message.
    private static RequestError? CheckLastMessage(ChatCompletionRequest gated, DeploymentTarget target)
    {
        var last = gated.Messages?.LastOrDefault(m => m?.Role is not ("system" or "developer"));
        return last is null || last.Role == "user"
            ? null
            : new RequestError($"Model '{target.PublicModel}' answers a conversation that ends with a user message; this one ends with a '{last.Role}' message.",
                "messages", "invalid_value");
    }

    protected override ParameterSupport Parameters => Support;

    public override string RequestPath(DeploymentTarget target) => "/v1/openai/chat/completions";

    public override long? ReportedCostMicros(Usage? usage, Func<string, string?> header) => UsdExtraToMicros(usage, "estimated_cost");

    // The seed's own stream sample ends its text with the model's end-of-sequence token as content.
    public override string? EndOfSequenceMarker => "</s>";
}
