using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Drops unknown fields whose names differ from a known one only by case (<c>"Model"</c> beside <c>"model"</c>).
/// The gateway reads names exactly; an upstream parser that is case-insensitive and keeps the last value would
/// read the shadow instead, and could serve a model the key may not use, priced as the public one. Names are compared
/// the way the most lenient upstream parser compares them: Go's encoding/json folds case by Unicode simple case
/// folding, under which the Kelvin sign (U+212A) is a <c>k</c> and the long s (U+017F) an <c>s</c>, so
/// <c>"max_toKens"</c> is <c>max_tokens</c> to it.
/// </summary>
internal static class ShadowFields
{
    private static readonly HashSet<string> RequestFields = new(LenientNames.Comparer)
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "seed",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "stream", "stream_options",
        "response_format", "tools", "tool_choice", "parallel_tool_calls",
    };

    private static readonly HashSet<string> MessageFields = new(LenientNames.Comparer)
    {
        "role", "content", "name", "tool_calls", "tool_call_id",
    };

    public static void Remove(ChatCompletionRequest request)
    {
        request.ExtensionData = Without(request.ExtensionData, RequestFields);
        foreach (var message in request.Messages ?? [])
        {
            if (message is not null)
            {
                message.ExtensionData = Without(message.ExtensionData, MessageFields);
            }
        }
    }

    private static Dictionary<string, JsonElement>? Without(Dictionary<string, JsonElement>? extra, HashSet<string> known)
    {
        if (extra is null)
        {
            return null;
        }

        foreach (var name in extra.Keys.Where(known.Contains).ToList())
        {
            extra.Remove(name);
        }

        return extra.Count == 0 ? null : extra;
    }
}

/// <summary>Field names as a lenient JSON decoder matches them: ASCII case ignored, and the non-ASCII letters that fold to ASCII ones.</summary>
internal sealed class LenientNames : IEqualityComparer<string>
{
    public static readonly LenientNames Comparer = new();

    public bool Equals(string? x, string? y) =>
        x is not null && y is not null && x.Length == y.Length && Fold(x).Equals(Fold(y), StringComparison.OrdinalIgnoreCase);

    public int GetHashCode(string obj) => StringComparer.OrdinalIgnoreCase.GetHashCode(Fold(obj));

    /// <summary>The only characters outside ASCII whose simple case folding is an ASCII letter.</summary>
    private static string Fold(string name) =>
        name.AsSpan().IndexOfAny('\u212A', '\u017F') < 0 ? name : name.Replace('\u212A', 'k').Replace('\u017F', 's');
}
