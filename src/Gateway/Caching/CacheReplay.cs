using System.Buffers;
using System.Text.Json;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Requests;

namespace Gateway.Caching;

/// <summary>
/// Answers a request from a cached answer, through the same writers a provider's answer goes through: a whole
/// completion, or a proper OpenAI stream (a role chunk, the content in pieces, tool calls, the finish reason, the
/// usage chunk when asked, <c>[DONE]</c>). The id and created time are this request's own; the cost is 0.
/// </summary>
internal static class CacheReplay
{
    // Pieces of about this many characters, cut after whitespace: small enough to look like a stream, few enough to be cheap.
    private const int PieceLength = 48;

    private static readonly Func<string, string> AlreadyMapped = static reason => reason;

    public static async Task<AttemptResult> WriteAsync(HttpContext context, ChatExchange exchange, CachedAnswer cached)
    {
        var answer = new ProducedAnswer(exchange, exchange.Route.Deployments.FirstOrDefault(d => d.Id == cached.Deployment),
            savedMicros: cached.CostMicros);
        if (!cached.Estimated && cached.Completion.Usage is { } usage)
        {
            // Estimated counts are not "reported": they are counted again from the same text, to the same figures.
            answer.Report(new Usage { PromptTokens = usage.PromptTokens, CompletionTokens = usage.CompletionTokens, TotalTokens = usage.TotalTokens });
        }

        var stop = exchange.Stop.Token;
        try
        {
            if (!exchange.Request.IsStreaming)
            {
                await CompletionWriter.WriteAsync(context.Response, exchange, answer, cached.Completion, AlreadyMapped, stop);
                return AttemptResult.Success with { Answer = answer };
            }

            using var writer = new ClientStreamWriter(context.Response, exchange, answer, AlreadyMapped);
            foreach (var chunk in ToChunks(cached.Completion))
            {
                await writer.WriteChunkAsync(chunk, stop);
            }

            await writer.CompleteAsync(stop);
            return AttemptResult.Success with { Answer = answer };
        }
        catch (OperationCanceledException)
        {
            return AttemptResult.Gone with { Answer = answer };
        }
    }

    /// <summary>The chunks a stream of this completion carries, choice after choice.</summary>
    public static IEnumerable<ChatCompletionChunk> ToChunks(ChatCompletion completion)
    {
        foreach (var choice in completion.Choices!)
        {
            var message = choice.Message ?? new ResponseMessage();
            yield return One(completion, choice.Index, new ChunkDelta { Role = message.Role ?? "assistant", Content = "", ExtensionData = message.ExtensionData });
            var first = true;
            foreach (var piece in Pieces(message.Content))
            {
                var chunk = One(completion, choice.Index, new ChunkDelta { Content = piece });
                chunk.Choices![0].Logprobs = first ? choice.Logprobs : null;
                first = false;
                yield return chunk;
            }

            if (message.Refusal is not null)
            {
                yield return One(completion, choice.Index, new ChunkDelta { Refusal = message.Refusal });
            }

            if (message.ToolCalls is { ValueKind: JsonValueKind.Array } calls)
            {
                yield return One(completion, choice.Index, new ChunkDelta { ToolCalls = Indexed(calls) });
            }

            var finish = One(completion, choice.Index, new ChunkDelta());
            finish.Choices![0].FinishReason = choice.FinishReason ?? "stop";
            yield return finish;
        }
    }

    private static ChatCompletionChunk One(ChatCompletion completion, int index, ChunkDelta delta) => new()
    {
        SystemFingerprint = completion.SystemFingerprint,
        Choices = [new ChunkChoice { Index = index, Delta = delta }],
    };

    /// <summary>The text in pieces of about <see cref="PieceLength"/> characters, each ending after whitespace where there is some.</summary>
    public static IEnumerable<string> Pieces(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            yield break;
        }

        var start = 0;
        while (start < text.Length)
        {
            var end = Math.Min(start + PieceLength, text.Length);
            if (end < text.Length)
            {
                var space = text.AsSpan(start, end - start).LastIndexOfAny(' ', '\n');
                end = space > 0 ? start + space + 1 : end;
                // Never between the two halves of a surrogate pair.
                if (char.IsHighSurrogate(text[end - 1]))
                {
                    end++;
                }
            }

            yield return text[start..end];
            start = end;
        }
    }

    /// <summary>Stream deltas name each tool call's position: the stored calls, with <c>index</c> added.</summary>
    private static JsonElement Indexed(JsonElement calls)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, OpenAiJson.WriterOptions))
        {
            w.WriteStartArray();
            var i = 0;
            foreach (var call in calls.EnumerateArray())
            {
                w.WriteStartObject();
                w.WriteNumber("index"u8, i++);
                foreach (var p in call.EnumerateObject().Where(p => p.Name != "index"))
                {
                    p.WriteTo(w);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }
}
