using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// One optional OpenAI sampling/control parameter: how to see it, whether its value is the
/// OpenAI default (so dropping it changes nothing), and how to clear or clamp it.
/// </summary>
internal sealed class KnownParameter
{
    private KnownParameter(string name, Func<ChatCompletionRequest, bool> present, Func<ChatCompletionRequest, bool> isDefault,
        Action<ChatCompletionRequest> clear, Func<ChatCompletionRequest, double?>? number = null,
        Action<ChatCompletionRequest, double>? setNumber = null)
    {
        Name = name;
        IsPresent = present;
        IsDefault = isDefault;
        Clear = clear;
        Number = number;
        SetNumber = setNumber;
    }

    public string Name { get; }
    public Func<ChatCompletionRequest, bool> IsPresent { get; }
    public Func<ChatCompletionRequest, bool> IsDefault { get; }
    public Action<ChatCompletionRequest> Clear { get; }
    public Func<ChatCompletionRequest, double?>? Number { get; }
    public Action<ChatCompletionRequest, double>? SetNumber { get; }

    /// <summary>Metadata that never changes the output; dropped silently where unsupported.</summary>
    public static readonly IReadOnlySet<string> Metadata = new HashSet<string> { "user" };

    public static readonly KnownParameter[] All =
    [
        new("max_tokens", r => r.MaxTokens is not null, _ => false, r => r.MaxTokens = null,
            r => r.MaxTokens, (r, v) => r.MaxTokens = (int)v),
        new("temperature", r => r.Temperature is not null, _ => false, r => r.Temperature = null,
            r => r.Temperature, (r, v) => r.Temperature = v),
        new("top_p", r => r.TopP is not null, r => r.TopP == 1, r => r.TopP = null,
            r => r.TopP, (r, v) => r.TopP = v),
        new("n", r => r.N is not null, r => r.N == 1, r => r.N = null),
        new("stop", r => r.Stop is not null, _ => false, r => r.Stop = null),
        new("seed", r => r.Seed is not null, _ => false, r => r.Seed = null),
        new("presence_penalty", r => r.PresencePenalty is not null, r => r.PresencePenalty == 0, r => r.PresencePenalty = null,
            r => r.PresencePenalty, (r, v) => r.PresencePenalty = v),
        new("frequency_penalty", r => r.FrequencyPenalty is not null, r => r.FrequencyPenalty == 0, r => r.FrequencyPenalty = null,
            r => r.FrequencyPenalty, (r, v) => r.FrequencyPenalty = v),
        new("logit_bias", r => r.LogitBias is not null, r => IsEmptyObject(r.LogitBias), r => r.LogitBias = null),
        new("logprobs", r => r.Logprobs is not null, r => r.Logprobs == false, r => r.Logprobs = null),
        new("top_logprobs", r => r.TopLogprobs is not null, r => r.Logprobs != true, r => r.TopLogprobs = null),
        new("user", r => r.User is not null, _ => false, r => r.User = null),
        new("response_format", r => r.ResponseFormat is not null, r => IsTextFormat(r.ResponseFormat), r => r.ResponseFormat = null),
        new("tools", r => r.Tools is not null, r => r.Tools is { ValueKind: JsonValueKind.Array } t && t.GetArrayLength() == 0, r => r.Tools = null),
        new("tool_choice", r => r.ToolChoice is not null, r => r.Tools is null && IsString(r.ToolChoice, "none", "auto"), r => r.ToolChoice = null),
        new("parallel_tool_calls", r => r.ParallelToolCalls is not null, r => r.Tools is null, r => r.ParallelToolCalls = null),
    ];

    private static bool IsEmptyObject(JsonElement? e) => e is { ValueKind: JsonValueKind.Object } o && !o.EnumerateObject().Any();

    private static bool IsTextFormat(JsonElement? e) =>
        e is { ValueKind: JsonValueKind.Object } o && o.TryGetProperty("type", out var t) && t.ValueEquals("text");

    private static bool IsString(JsonElement? e, string a, string b) =>
        e is { ValueKind: JsonValueKind.String } s && (s.ValueEquals(a) || s.ValueEquals(b));
}
