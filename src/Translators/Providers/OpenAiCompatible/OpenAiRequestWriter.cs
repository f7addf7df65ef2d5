using System.Buffers;
using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.OpenAiCompatible;

/// <summary>
/// Writes an OpenAI-shaped request body for an upstream: the gated parameters, the messages
/// under the provider's <see cref="MessageRules"/>, and the streaming switch.
/// </summary>
internal static class OpenAiRequestWriter
{
    /// <summary>
    /// Checks every message against the rules before anything is written. The deployment's parameter policy applies below
    /// the top level too: a field of a message, or of a content part, that the provider's document does not list is sent
    /// only where the deployment passes it, left out where it drops it, and refused otherwise (a null value is no field);
    /// a content part of another type than text goes only where the provider takes it or the deployment passes its type.
    /// </summary>
    public static RequestError? CheckMessages(List<ChatMessage> messages, MessageRules rules, DeploymentTarget target)
    {
        var model = target.PublicModel;
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (!rules.ToolMessages && (m.Role == "tool" || m.ToolCalls is not null))
            {
                var param = m.Role == "tool" ? $"messages[{i}].role" : $"messages[{i}].tool_calls";
                return new RequestError($"Tool calls are not supported by model '{model}' ('{param}').", param, "unsupported_parameter");
            }

            foreach (var name in ExtraFields(m.ExtensionData))
            {
                if (target.Decide(name) == UndocumentedPolicy.Reject)
                {
                    return RequestError.Undocumented($"messages[{i}].{name}", model);
                }
            }

            if (m.Content?.Parts is not { } parts)
            {
                continue;
            }

            for (var j = 0; j < parts.Count; j++)
            {
                var type = parts[j].Type ?? "";
                if (type != "text" && (rules.Content != ContentShape.AnyOpenAi || !PartTypes.Contains(type)) && target.Decide(type) != UndocumentedPolicy.Pass)
                {
                    var param = $"messages[{i}].content[{j}].type";
                    return new RequestError($"Content parts of type '{type}' are not supported by model '{model}'.", param, "unsupported_parameter");
                }

                foreach (var name in ExtraFields(parts[j].ExtensionData).Where(n => n != type))
                {
                    if (target.Decide(name) == UndocumentedPolicy.Reject)
                    {
                        return RequestError.Undocumented($"messages[{i}].content[{j}].{name}", model);
                    }
                }
            }
        }

        return null;
    }

    // OpenAI's content part types besides text; each carries its payload under a field of its own name.
    private static readonly HashSet<string> PartTypes = new(StringComparer.Ordinal) { "image_url", "input_audio", "file" };

    /// <summary>Extra fields that say something (a null is no field).</summary>
    private static IEnumerable<string> ExtraFields(Dictionary<string, JsonElement>? extra) =>
        extra is null ? [] : extra.Where(e => e.Value.ValueKind != JsonValueKind.Null).Select(e => e.Key);

    public static void Write(IBufferWriter<byte> output, ChatCompletionRequest gated, MessageRules rules, DeploymentTarget target, bool stream,
        bool askForStreamUsage, bool modelInBody = true)
    {
        using var w = new Utf8JsonWriter(output, OpenAiJson.WriterOptions);
        w.WriteStartObject();
        if (modelInBody)
        {
            w.WriteString("model"u8, gated.Model);
        }

        WriteMessages(w, gated.Messages!, rules, target);
        WriteParameters(w, gated);
        if (gated.ExtensionData is { } extra)
        {
            foreach (var (name, value) in extra)
            {
                w.WritePropertyName(name);
                value.WriteTo(w);
            }
        }

        // Only a stream is asked for: not streaming is every provider's default, so nothing is added the client did not ask.
        if (stream)
        {
            w.WriteBoolean("stream"u8, true);
        }

        if (stream && askForStreamUsage)
        {
            // Usage is always collected for metering; the client sees it only if it asked.
            w.WriteStartObject("stream_options"u8);
            w.WriteBoolean("include_usage"u8, true);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteMessages(Utf8JsonWriter w, List<ChatMessage> messages, MessageRules rules, DeploymentTarget target)
    {
        w.WriteStartArray("messages"u8);
        var systemWritten = false;
        foreach (var m in messages)
        {
            if (rules.SingleSystemMessage && m.Role is "system" or "developer")
            {
                // One system message, where the first one was: every system and developer text, in order, one paragraph each.
                if (!systemWritten)
                {
                    systemWritten = true;
                    w.WriteStartObject();
                    w.WriteString("role"u8, "system");
                    w.WriteString("content"u8, string.Join("\n\n", messages.Where(x => x.Role is "system" or "developer").Select(x => x.Content?.ToPlainText() ?? "")));
                    w.WriteEndObject();
                }

                continue;
            }

            w.WriteStartObject();
            // "developer" is OpenAI's newer name for the system role; these upstreams know only "system".
            w.WriteString("role"u8, m.Role == "developer" ? "system" : m.Role);
            WriteContent(w, m.Content, rules.Content, target);
            if (rules.ParticipantNames && m.Name is not null)
            {
                w.WriteString("name"u8, m.Name);
            }

            if (rules.ToolMessages)
            {
                if (m.ToolCalls is { } calls)
                {
                    w.WritePropertyName("tool_calls"u8);
                    calls.WriteTo(w);
                }

                if (m.ToolCallId is not null)
                {
                    w.WriteString("tool_call_id"u8, m.ToolCallId);
                }
            }

            WritePassed(w, m.ExtensionData, target, except: null);

            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteContent(Utf8JsonWriter w, MessageContent? content, ContentShape shape, DeploymentTarget target)
    {
        if (content is null)
        {
            w.WriteNull("content"u8);
            return;
        }

        if (content.Text is not null || shape == ContentShape.PlainString || content.Parts is null)
        {
            w.WriteString("content"u8, content.ToPlainText());
            return;
        }

        // Part by part: its type, its text or its type's payload, and only the extra fields the deployment passes.
        w.WriteStartArray("content"u8);
        foreach (var part in content.Parts)
        {
            w.WriteStartObject();
            w.WriteString("type"u8, part.Type);
            if (part.Text is not null)
            {
                w.WriteString("text"u8, part.Text);
            }

            if (part.Type is { } type && part.ExtensionData?.TryGetValue(type, out var payload) == true)
            {
                w.WritePropertyName(type);
                payload.WriteTo(w);
            }

            WritePassed(w, part.ExtensionData, target, except: part.Type);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    /// <summary>The extra fields of a message or part that the deployment passes (the rest were refused or are dropped).</summary>
    private static void WritePassed(Utf8JsonWriter w, Dictionary<string, JsonElement>? extra, DeploymentTarget target, string? except)
    {
        foreach (var (name, value) in extra ?? [])
        {
            if (name != except && value.ValueKind != JsonValueKind.Null && target.Decide(name) == UndocumentedPolicy.Pass)
            {
                w.WritePropertyName(name);
                value.WriteTo(w);
            }
        }
    }

    private static void WriteParameters(Utf8JsonWriter w, ChatCompletionRequest r)
    {
        WriteNumber(w, "max_tokens"u8, r.MaxTokens);
        WriteNumber(w, "temperature"u8, r.Temperature);
        WriteNumber(w, "top_p"u8, r.TopP);
        WriteNumber(w, "n"u8, r.N);
        WriteElement(w, "stop"u8, r.Stop);
        if (r.Seed is { } seed)
        {
            w.WriteNumber("seed"u8, seed);
        }

        WriteNumber(w, "presence_penalty"u8, r.PresencePenalty);
        WriteNumber(w, "frequency_penalty"u8, r.FrequencyPenalty);
        WriteElement(w, "logit_bias"u8, r.LogitBias);
        if (r.Logprobs is { } logprobs)
        {
            w.WriteBoolean("logprobs"u8, logprobs);
        }

        WriteNumber(w, "top_logprobs"u8, r.TopLogprobs);
        if (r.User is not null)
        {
            w.WriteString("user"u8, r.User);
        }

        WriteElement(w, "response_format"u8, r.ResponseFormat);
        WriteElement(w, "tools"u8, r.Tools);
        WriteElement(w, "tool_choice"u8, r.ToolChoice);
        if (r.ParallelToolCalls is { } parallel)
        {
            w.WriteBoolean("parallel_tool_calls"u8, parallel);
        }
    }

    private static void WriteNumber(Utf8JsonWriter w, ReadOnlySpan<byte> name, double? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }

    private static void WriteNumber(Utf8JsonWriter w, ReadOnlySpan<byte> name, int? value)
    {
        if (value is { } v)
        {
            w.WriteNumber(name, v);
        }
    }

    private static void WriteElement(Utf8JsonWriter w, ReadOnlySpan<byte> name, JsonElement? value)
    {
        if (value is { } v)
        {
            w.WritePropertyName(name);
            v.WriteTo(w);
        }
    }
}
