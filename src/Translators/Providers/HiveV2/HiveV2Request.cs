using System.Buffers;
using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.HiveV2;

/// <summary>
/// Writes Hive's V2 task body (seed documents 000 and 002): system messages become
/// <c>system_prompt</c>, the last user message <c>text_data</c>, everything before it
/// <c>prompt_history</c> oldest first with roles <c>user</c>/<c>model</c> (or the deployment's
/// custom names, declared in <c>roles</c>).
/// </summary>
internal static class HiveV2Request
{
    public const string UserRoleOption = "UserRole";
    public const string ModelRoleOption = "ModelRole";

    public static RequestError? Check(List<ChatMessage> messages, string model)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            var m = messages[i];
            if (m.Role == "tool" || m.ToolCalls is not null)
            {
                var param = m.Role == "tool" ? $"messages[{i}].role" : $"messages[{i}].tool_calls";
                return new RequestError($"Tool calls are not supported by model '{model}' ('{param}').", param, "unsupported_parameter");
            }

            if (m.Content?.Parts is { } parts && parts.FirstOrDefault(p => p.Type != "text") is { } part)
            {
                var param = $"messages[{i}].content[{parts.ToList().IndexOf(part)}].type";
                return new RequestError($"Content parts of type '{part.Type}' are not supported by model '{model}'.", param, "unsupported_parameter");
            }
        }

        var last = messages.Count - 1;
        if (messages[last].Role != "user")
        {
            return new RequestError($"Model '{model}' answers a conversation that ends with a user message.",
                $"messages[{last}].role", "invalid_value");
        }

        return null;
    }

    public static void Write(IBufferWriter<byte> output, ChatCompletionRequest gated, DeploymentTarget target, string callbackUrl)
    {
        var messages = gated.Messages!;
        var userRole = target.Options.GetValueOrDefault(UserRoleOption, "user");
        var modelRole = target.Options.GetValueOrDefault(ModelRoleOption, "model");
        var system = string.Join("\n\n", messages.Where(m => m.Role is "system" or "developer").Select(m => m.Content?.ToPlainText()));

        using var w = new Utf8JsonWriter(output, OpenAiJson.WriterOptions);
        w.WriteStartObject();
        w.WriteString("text_data"u8, messages[^1].Content!.ToPlainText());
        w.WriteString("callback_url"u8, callbackUrl);
        w.WriteStartObject("options"u8);
        if (system.Length > 0)
        {
            w.WriteString("system_prompt"u8, system);
        }

        if (userRole != "user" || modelRole != "model")
        {
            w.WriteStartObject("roles"u8);
            w.WriteString("user"u8, userRole);
            w.WriteString("model"u8, modelRole);
            w.WriteEndObject();
        }

        w.WriteStartArray("prompt_history"u8);
        foreach (var m in messages.Take(messages.Count - 1).Where(m => m.Role is "user" or "assistant"))
        {
            w.WriteStartObject();
            w.WriteString("content"u8, m.Content?.ToPlainText() ?? "");
            w.WriteString("role"u8, m.Role == "user" ? userRole : modelRole);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (gated.MaxTokens is { } maxTokens)
        {
            w.WriteNumber("max_tokens"u8, maxTokens);
        }

        if (gated.Temperature is { } temperature)
        {
            w.WriteNumber("temperature"u8, temperature);
        }

        if (gated.TopP is { } topP)
        {
            w.WriteNumber("top_p"u8, topP);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }
}
