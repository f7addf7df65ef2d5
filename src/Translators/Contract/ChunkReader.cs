using System.Text.Json;

namespace Gateway.Translators.Contract;

/// <summary>
/// Reads one <c>chat.completion.chunk</c> with a hand-written <see cref="Utf8JsonReader"/> loop:
/// the hot path of every stream. Only what the gateway uses is materialized (choices, deltas,
/// usage, fingerprint, error); everything else is skipped without allocating. Unknown delta and
/// usage fields are kept, as the serializer-based reader did.
/// </summary>
public static class ChunkReader
{
    public static bool TryRead(ReadOnlySpan<byte> json, out ChatCompletionChunk? chunk)
    {
        chunk = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var result = new ChatCompletionChunk();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    result.Choices = ReadChoices(ref reader);
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    result.Usage = reader.TokenType == JsonTokenType.Null ? null : ReadUsage(ref reader);
                }
                else if (reader.ValueTextEquals("system_fingerprint"u8))
                {
                    reader.Read();
                    result.SystemFingerprint = reader.GetString();
                }
                else if (reader.ValueTextEquals("error"u8))
                {
                    reader.Read();
                    result.Error = reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            chunk = result;
            return reader.TokenType == JsonTokenType.EndObject;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            chunk = null;
            return false;
        }
    }

    private static List<ChunkChoice>? ReadChoices(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        Expect(ref reader, JsonTokenType.StartArray);
        var choices = new List<ChunkChoice>(1);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            Expect(ref reader, JsonTokenType.StartObject);
            var choice = new ChunkChoice();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    reader.Read();
                    choice.Index = reader.GetInt32();
                }
                else if (reader.ValueTextEquals("delta"u8))
                {
                    reader.Read();
                    choice.Delta = reader.TokenType == JsonTokenType.Null ? null : ReadDelta(ref reader);
                }
                else if (reader.ValueTextEquals("finish_reason"u8))
                {
                    reader.Read();
                    choice.FinishReason = reader.GetString();
                }
                else if (reader.ValueTextEquals("logprobs"u8))
                {
                    reader.Read();
                    choice.Logprobs = reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            choices.Add(choice);
        }

        return choices;
    }

    private static ChunkDelta ReadDelta(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.StartObject);
        var delta = new ChunkDelta();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("role"u8))
            {
                reader.Read();
                delta.Role = reader.GetString();
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                delta.Content = reader.GetString();
            }
            else if (reader.ValueTextEquals("refusal"u8))
            {
                reader.Read();
                delta.Refusal = reader.GetString();
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                delta.ToolCalls = reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);
            }
            else
            {
                var name = reader.GetString()!;
                reader.Read();
                (delta.ExtensionData ??= [])[name] = JsonElement.ParseValue(ref reader);
            }
        }

        return delta;
    }

    internal static Usage ReadUsage(ref Utf8JsonReader reader)
    {
        Expect(ref reader, JsonTokenType.StartObject);
        var usage = new Usage();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                reader.Read();
                usage.PromptTokens = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                usage.CompletionTokens = reader.GetInt32();
            }
            else if (reader.ValueTextEquals("total_tokens"u8))
            {
                reader.Read();
                usage.TotalTokens = reader.GetInt32();
            }
            else
            {
                var name = reader.GetString()!;
                reader.Read();
                (usage.ExtensionData ??= [])[name] = JsonElement.ParseValue(ref reader);
            }
        }

        return usage;
    }

    internal static void Expect(ref Utf8JsonReader reader, JsonTokenType type)
    {
        if (reader.TokenType != type)
        {
            throw new JsonException($"expected {type}, found {reader.TokenType}");
        }
    }
}
