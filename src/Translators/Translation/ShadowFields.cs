using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Drops unknown fields whose names differ from a known one only by case (<c>"Model"</c> beside <c>"model"</c>).
/// The gateway reads names exactly; an upstream parser that is case-insensitive and keeps the last value would
/// read the shadow instead, and could serve a model the key may not use, priced as the public one.
/// </summary>
internal static class ShadowFields
{
    private static readonly HashSet<string> RequestFields = new(StringComparer.OrdinalIgnoreCase)
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "seed",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "stream", "stream_options",
        "response_format", "tools", "tool_choice", "parallel_tool_calls",
    };

    private static readonly HashSet<string> MessageFields = new(StringComparer.OrdinalIgnoreCase)
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
