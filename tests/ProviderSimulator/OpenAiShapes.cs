using System.Text;
using System.Text.Json;

namespace ProviderSimulator;

/// <summary>Writes OpenAI-shaped answers the way OpenAI-compatible providers send them.</summary>
public static class OpenAiShapes
{
    public static byte[] Completion(string id, string model, ReplyPlan plan, bool includeUsage, Action<Utf8JsonWriter>? usageExtras = null) =>
        Answer(id, "chat.completion", model, sseEvent: false, w =>
        {
            WholeChoice(w, m => m.WriteString("content", plan.Text), plan.FinishReason);
            if (includeUsage)
            {
                WriteUsage(w, plan, usageExtras);
            }
        });

    /// <summary>
    /// An answer that calls a tool instead of saying something: whole (<c>message.tool_calls</c>), as OpenAI-compatible
    /// providers send it, with <c>finish_reason: "tool_calls"</c>.
    /// </summary>
    public static byte[] ToolCallCompletion(string id, string model, string callId, string function, string arguments, ReplyPlan plan) =>
        Answer(id, "chat.completion", model, sseEvent: false, w =>
        {
            WholeChoice(w, m =>
            {
                m.WriteNull("content");
                m.WriteStartArray("tool_calls");
                WriteToolCall(m, null, callId, function, arguments);
                m.WriteEndArray();
            }, "tool_calls");
            WriteUsage(w, plan, null);
        });

    /// <summary>One streamed piece of a tool call: the first carries its id and name, the later ones argument fragments.</summary>
    public static byte[] ToolCallChunkEvent(string id, string model, string? callId, string? function, string arguments, string? finishReason) =>
        Answer(id, "chat.completion.chunk", model, sseEvent: true, w =>
        {
            w.WriteStartArray("choices");
            DeltaChoice(w, 0, finishReason, d =>
            {
                if (finishReason is null)
                {
                    d.WriteStartArray("tool_calls");
                    WriteToolCall(d, 0, callId, function, arguments);
                    d.WriteEndArray();
                }
            });
            w.WriteEndArray();
        });

    /// <summary>One <c>data: {chunk}</c> event with a content delta, a finish reason, and/or usage.</summary>
    /// <param name="index">The choice the chunk belongs to (several are interleaved when <c>n</c> &gt; 1).</param>
    /// <param name="logprobs">Whether to carry the content's token with a log probability, as OpenAI-compatible streams do when asked.</param>
    public static byte[] ChunkEvent(string id, string model, string? role, string? content, string? finishReason, bool choices,
        ReplyPlan? usage, Action<Utf8JsonWriter>? usageExtras = null, int index = 0, bool logprobs = false) =>
        Answer(id, "chat.completion.chunk", model, sseEvent: true, w =>
        {
            w.WriteStartArray("choices");
            if (choices)
            {
                DeltaChoice(w, index, finishReason, d =>
                {
                    if (role is not null)
                    {
                        d.WriteString("role", role);
                    }

                    if (content is not null)
                    {
                        d.WriteString("content", content);
                    }
                }, logprobs && !string.IsNullOrEmpty(content) ? content : null);
            }

            w.WriteEndArray();
            if (usage is not null)
            {
                WriteUsage(w, usage, usageExtras);
            }
        });

    public static readonly byte[] DoneEvent = Encoding.ASCII.GetBytes("data: [DONE]\n\n");

    /// <summary>An answer's JSON object (its id, object type, created and model, then what <paramref name="body"/> writes), or that object as one SSE event.</summary>
    private static byte[] Answer(string id, string objectType, string model, bool sseEvent, Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        if (sseEvent)
        {
            stream.Write("data: "u8);
        }

        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", objectType);
            w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            w.WriteString("model", model);
            body(w);
            w.WriteEndObject();
        }

        if (sseEvent)
        {
            stream.Write("\n\n"u8);
        }

        return stream.ToArray();
    }

    /// <summary>The one choice of a whole answer: the assistant's message (what <paramref name="message"/> writes) and its finish reason.</summary>
    private static void WholeChoice(Utf8JsonWriter w, Action<Utf8JsonWriter> message, string finishReason)
    {
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        message(w);
        w.WriteEndObject();
        w.WriteString("finish_reason", finishReason);
        w.WriteEndObject();
        w.WriteEndArray();
    }

    /// <summary>One choice of a chunk: its delta (what <paramref name="delta"/> writes), the token's log probability if any, its finish reason or null.</summary>
    private static void DeltaChoice(Utf8JsonWriter w, int index, string? finishReason, Action<Utf8JsonWriter> delta, string? logprobToken = null)
    {
        w.WriteStartObject();
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        delta(w);
        w.WriteEndObject();
        if (logprobToken is not null)
        {
            w.WriteStartObject("logprobs");
            w.WriteStartArray("content");
            w.WriteStartObject();
            w.WriteString("token", logprobToken);
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
