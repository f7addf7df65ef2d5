using System.Text;
using System.Text.Json;

namespace ProviderSimulator;

/// <summary>Writes OpenAI-shaped answers the way OpenAI-compatible providers send them.</summary>
public static class OpenAiShapes
{
    public static byte[] Completion(string id, string model, ReplyPlan plan, bool includeUsage, Action<Utf8JsonWriter>? usageExtras = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "chat.completion");
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", plan.Text);
            w.WriteEndObject();
            w.WriteString("finish_reason", plan.FinishReason);
            w.WriteEndObject();
            w.WriteEndArray();
            if (includeUsage)
            {
                WriteUsage(w, plan, usageExtras);
            }

            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>
    /// An answer that calls a tool instead of saying something: whole (<c>message.tool_calls</c>), as OpenAI-compatible
    /// providers send it, with <c>finish_reason: "tool_calls"</c>.
    /// </summary>
    public static byte[] ToolCallCompletion(string id, string model, string callId, string function, string arguments, ReplyPlan plan)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "chat.completion");
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteNull("content");
            w.WriteStartArray("tool_calls");
            WriteToolCall(w, null, callId, function, arguments);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteString("finish_reason", "tool_calls");
            w.WriteEndObject();
            w.WriteEndArray();
            WriteUsage(w, plan, null);
            w.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>One streamed piece of a tool call: the first carries its id and name, the later ones argument fragments.</summary>
    public static byte[] ToolCallChunkEvent(string id, string model, string? callId, string? function, string arguments, string? finishReason)
    {
        using var stream = new MemoryStream();
        stream.Write("data: "u8);
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "chat.completion.chunk");
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("delta");
            if (finishReason is null)
            {
                w.WriteStartArray("tool_calls");
                WriteToolCall(w, 0, callId, function, arguments);
                w.WriteEndArray();
            }

            w.WriteEndObject();
            if (finishReason is null)
            {
                w.WriteNull("finish_reason");
            }
            else
            {
                w.WriteString("finish_reason", finishReason);
            }

            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        stream.Write("\n\n"u8);
        return stream.ToArray();
    }

    private static void WriteToolCall(Utf8JsonWriter w, int? index, string? callId, string? function, string arguments)
    {
        w.WriteStartObject();
        if (index is { } i)
        {
            w.WriteNumber("index", i);
        }

        if (callId is not null)
        {
            w.WriteString("id", callId);
            w.WriteString("type", "function");
        }

        w.WriteStartObject("function");
        if (function is not null)
        {
            w.WriteString("name", function);
        }

        w.WriteString("arguments", arguments);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>One <c>data: {chunk}</c> event with a content delta, a finish reason, and/or usage.</summary>
    /// <param name="index">The choice the chunk belongs to (several are interleaved when <c>n</c> &gt; 1).</param>
    /// <param name="logprobs">Whether to carry the content's token with a log probability, as OpenAI-compatible streams do when asked.</param>
    public static byte[] ChunkEvent(string id, string model, string? role, string? content, string? finishReason, bool choices,
        ReplyPlan? usage, Action<Utf8JsonWriter>? usageExtras = null, int index = 0, bool logprobs = false)
    {
        using var stream = new MemoryStream();
        stream.Write("data: "u8);
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "chat.completion.chunk");
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", model);
            w.WriteStartArray("choices");
            if (choices)
            {
                w.WriteStartObject();
                w.WriteNumber("index", index);
                w.WriteStartObject("delta");
                if (role is not null)
                {
                    w.WriteString("role", role);
                }

                if (content is not null)
                {
                    w.WriteString("content", content);
                }

                w.WriteEndObject();
                if (logprobs && !string.IsNullOrEmpty(content))
                {
                    w.WriteStartObject("logprobs");
                    w.WriteStartArray("content");
                    w.WriteStartObject();
                    w.WriteString("token", content);
                    w.WriteNumber("logprob", -0.1);
                    w.WriteNull("bytes");
                    w.WriteStartArray("top_logprobs");
                    w.WriteEndArray();
                    w.WriteEndObject();
                    w.WriteEndArray();
                    w.WriteEndObject();
                }

                if (finishReason is null)
                {
                    w.WriteNull("finish_reason");
                }
                else
                {
                    w.WriteString("finish_reason", finishReason);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (usage is not null)
            {
                WriteUsage(w, usage, usageExtras);
            }

            w.WriteEndObject();
        }

        stream.Write("\n\n"u8);
        return stream.ToArray();
    }

    public static readonly byte[] DoneEvent = Encoding.ASCII.GetBytes("data: [DONE]\n\n");

    private static void WriteUsage(Utf8JsonWriter w, ReplyPlan plan, Action<Utf8JsonWriter>? extras)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", plan.PromptTokens);
        w.WriteNumber("completion_tokens", plan.CompletionTokens);
        w.WriteNumber("total_tokens", plan.PromptTokens + plan.CompletionTokens);
        extras?.Invoke(w);
        w.WriteEndObject();
    }
}
