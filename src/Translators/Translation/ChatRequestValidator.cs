using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// The OpenAI-level rules every request must satisfy before any provider sees it
/// (ranges from the OpenAI API reference for chat completions).
/// </summary>
public static class ChatRequestValidator
{
    private static readonly HashSet<string> KnownRoles = ["system", "developer", "user", "assistant", "tool"];

    public static RequestError? Validate(ChatCompletionRequest r)
    {
        if (string.IsNullOrWhiteSpace(r.Model))
        {
            return new RequestError("'model' is required and must be a non-empty string.", "model", "missing_required_parameter");
        }

        return ValidateMessages(r.Messages)
            ?? Range(r.MaxTokens, 1, int.MaxValue, "max_tokens")
            ?? Range(r.MaxCompletionTokens, 1, int.MaxValue, "max_completion_tokens")
            ?? Conflict(r)
            ?? Range(r.Temperature, 0, 2, "temperature")
            ?? Range(r.TopP, 0, 1, "top_p")
            ?? Range(r.N, 1, 128, "n")
            ?? Range(r.PresencePenalty, -2, 2, "presence_penalty")
            ?? Range(r.FrequencyPenalty, -2, 2, "frequency_penalty")
            ?? Range(r.TopLogprobs, 0, 20, "top_logprobs")
            ?? ValidateStop(r.Stop)
            ?? ValidateObject(r.LogitBias, "logit_bias")
            ?? ValidateObject(r.ResponseFormat, "response_format")
            ?? ValidateTools(r.Tools)
            ?? ValidateStreamOptions(r);
    }

    private static RequestError? ValidateMessages(List<ChatMessage>? messages)
    {
        if (messages is null)
        {
            return new RequestError("'messages' is required.", "messages", "missing_required_parameter");
        }

        if (messages.Count == 0)
        {
            return new RequestError("'messages' must contain at least one message.", "messages", "invalid_value");
        }

        for (var i = 0; i < messages.Count; i++)
        {
            var error = ValidateMessage(messages[i], $"messages[{i}]");
            if (error is not null)
            {
                return error;
            }
        }

        return null;
    }

    private static RequestError? ValidateMessage(ChatMessage? m, string at)
    {
        if (m is null)
        {
            return new RequestError($"'{at}' must be an object.", at, "invalid_type");
        }

        if (m.Role is null)
        {
            return new RequestError($"'{at}.role' is required.", $"{at}.role", "missing_required_parameter");
        }

        if (!KnownRoles.Contains(m.Role))
        {
            return new RequestError(
                $"Invalid value '{m.Role}' for '{at}.role': expected one of 'system', 'developer', 'user', 'assistant', 'tool'.",
                $"{at}.role", "invalid_value");
        }

        var contentOptional = m.Role == "assistant" && m.ToolCalls is not null;
        if (m.Content is null && !contentOptional)
        {
            return new RequestError($"'{at}.content' is required for role '{m.Role}'.", $"{at}.content", "missing_required_parameter");
        }

        if (m.Role == "tool" && string.IsNullOrEmpty(m.ToolCallId))
        {
            return new RequestError($"'{at}.tool_call_id' is required for role 'tool'.", $"{at}.tool_call_id", "missing_required_parameter");
        }

        var parts = m.Content?.Parts;
        if (parts is null)
        {
            return null;
        }

        if (parts.Count == 0)
        {
            return new RequestError($"'{at}.content' must not be an empty array.", $"{at}.content", "invalid_value");
        }

        for (var j = 0; j < parts.Count; j++)
        {
            var part = parts[j];
            var partAt = $"{at}.content[{j}]";
            if (string.IsNullOrEmpty(part.Type))
            {
                return new RequestError($"'{partAt}.type' is required.", $"{partAt}.type", "missing_required_parameter");
            }

            if (part.Type == "text" && part.Text is null)
            {
                return new RequestError($"'{partAt}.text' is required for a text part.", $"{partAt}.text", "missing_required_parameter");
            }
        }

        return null;
    }

    private static RequestError? Conflict(ChatCompletionRequest r) =>
        r.MaxTokens is not null && r.MaxCompletionTokens is not null && r.MaxTokens != r.MaxCompletionTokens
            ? new RequestError("Set 'max_completion_tokens' or the deprecated 'max_tokens', not both with different values.",
                "max_tokens", "invalid_value")
            : null;

    private static RequestError? Range(double? value, double min, double max, string param) =>
        value is { } v && (v < min || v > max)
            ? new RequestError($"Invalid value {v.ToString(System.Globalization.CultureInfo.InvariantCulture)} for '{param}': expected a number from {min} to {max}.",
                param, "invalid_value")
            : null;

    private static RequestError? Range(long? value, long min, long max, string param) =>
        value is { } v && (v < min || v > max)
            ? new RequestError(max == int.MaxValue
                    ? $"Invalid value {v} for '{param}': expected an integer of at least {min}."
                    : $"Invalid value {v} for '{param}': expected an integer from {min} to {max}.",
                param, "invalid_value")
            : null;

    private static RequestError? ValidateStop(JsonElement? stop)
    {
        if (stop is not { } s || s.ValueKind is JsonValueKind.String)
        {
            return null;
        }

        if (s.ValueKind != JsonValueKind.Array || s.GetArrayLength() > 4 || s.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
        {
            return new RequestError("'stop' must be a string or an array of up to 4 strings.", "stop", "invalid_value");
        }

        return null;
    }

    private static RequestError? ValidateObject(JsonElement? value, string param) =>
        value is { ValueKind: not JsonValueKind.Object }
            ? new RequestError($"'{param}' must be an object.", param, "invalid_type")
            : null;

    private static RequestError? ValidateTools(JsonElement? tools) =>
        tools is { ValueKind: not JsonValueKind.Array }
            ? new RequestError("'tools' must be an array.", "tools", "invalid_type")
            : null;

    private static RequestError? ValidateStreamOptions(ChatCompletionRequest r) =>
        r.StreamOptions is not null && r.Stream != true
            ? new RequestError("'stream_options' is only allowed when 'stream' is true.", "stream_options", "invalid_value")
            : null;
}
