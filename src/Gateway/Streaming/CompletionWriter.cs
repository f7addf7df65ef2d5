using System.Text.Json;
using Gateway.Requests;
using Gateway.Translators.Contract;

namespace Gateway.Streaming;

/// <summary>
/// Writes a non-streaming OpenAI answer (PROVIDERS.md §1): the gateway's id, the public model
/// name, mapped finish reasons, and usage always present (the provider's, or estimated).
/// </summary>
internal static class CompletionWriter
{
    public static async Task WriteAsync(HttpResponse response, ChatExchange exchange, ProducedAnswer answer, ChatCompletion completion,
        Func<string, string> mapFinishReason, CancellationToken cancellationToken)
    {
        if (completion.Usage is { } usage)
        {
            answer.Report(usage);
        }

        // A whole answer's usage comes with it, before its text: the text is kept (copied) only when it will be counted.
        // A stream's usage comes last, so its writer keeps the text it relays until then.
        if (!answer.HasReportedCounts)
        {
            foreach (var choice in completion.Choices!)
            {
                answer.AddCompletionText(choice.Message?.Content);
            }
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/json";
        // Token counts the provider did not report are the gateway's estimate; say which, and what it cost.
        response.Headers["x-gateway-usage"] = answer.FinalUsage().Estimated ? "estimated" : "reported";
        response.Headers["x-gateway-cost-usd"] = Money.Usd(answer.CostMicros());
        // Whole answer first, then one write with Content-Length: no chunked framing, one system call.
        using var body = new Buffers.PooledBufferWriter(2048);
        using (var w = new Utf8JsonWriter(body, OpenAiJsonWriting.Options))
        {
            Write(w, exchange, answer, completion, mapFinishReason);
        }

        response.ContentLength = body.WrittenCount;
        answer.MarkFirstToken();
        // Recorded before it is written: the answer is whole now, however slowly this client reads it, and identical
        // requests waiting for it (other keys' too) are served at once.
        answer.Recorder?.Whole(completion, mapFinishReason, answer);
        await response.BodyWriter.WriteAsync(body.WrittenMemory, cancellationToken);
    }

    private static void Write(Utf8JsonWriter w, ChatExchange exchange, ProducedAnswer answer, ChatCompletion completion,
        Func<string, string> mapFinishReason)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, exchange.CompletionId);
        w.WriteString("object"u8, "chat.completion"u8);
        w.WriteNumber("created"u8, exchange.Created);
        w.WriteString("model"u8, exchange.PublicModel);
        w.WriteStartArray("choices"u8);
        foreach (var choice in completion.Choices!)
        {
            WriteChoice(w, choice, mapFinishReason);
        }

        w.WriteEndArray();
        OpenAiJsonWriting.WriteUsage(w, answer);
        OpenAiJsonWriting.WriteStringOrNull(w, "system_fingerprint"u8, completion.SystemFingerprint);
        w.WriteEndObject();
    }

    private static void WriteChoice(Utf8JsonWriter w, CompletionChoice choice, Func<string, string> mapFinishReason)
    {
        var message = choice.Message!;
        w.WriteStartObject();
        w.WriteNumber("index"u8, choice.Index);
        w.WriteStartObject("message"u8);
        w.WriteString("role"u8, message.Role ?? "assistant");
        OpenAiJsonWriting.WriteStringOrNull(w, "content"u8, message.Content);
        if (message.Refusal is not null)
        {
            w.WriteString("refusal"u8, message.Refusal);
        }

        if (message.ToolCalls is { } calls)
        {
            w.WritePropertyName("tool_calls"u8);
            calls.WriteTo(w);
        }

        OpenAiJsonWriting.WriteExtensions(w, message.ExtensionData);
        w.WriteEndObject();
        OpenAiJsonWriting.WriteElementOrNull(w, "logprobs"u8, choice.Logprobs);
        // A completed answer always has a reason; "stop" when the provider left it out.
        w.WriteString("finish_reason"u8, mapFinishReason(choice.FinishReason ?? "stop"));
        w.WriteEndObject();
    }
}
