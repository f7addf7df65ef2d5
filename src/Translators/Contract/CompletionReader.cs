using System.Text.Json;

namespace Gateway.Translators.Contract;

/// <summary>
/// Reads one whole <c>chat.completion</c> with a hand-written <see cref="Utf8JsonReader"/> loop, as
/// <see cref="ChunkReader"/> reads a stream's chunks: every answer that is not a stream passes here. It reads what the
/// serializer read (<see cref="OpenAiJsonContext"/>: snake_case names matched exactly, strict numbers, unknown fields of
/// the answer and its choices skipped, those of a message and of usage kept), at about a third of the serializer's cost,
/// which walked the generated metadata property by property and built a whole <see cref="JsonDocument"/> for each kept
/// field (bench/instructions.sh; docs/performance.md, fifteenth round). Anything the serializer refused is refused: a
/// value of the wrong type, a truncated or trailing body. A choice that is <c>null</c> is refused too, where the
/// serializer gave a null choice that nothing downstream expects.
/// Its loops mirror <see cref="ChunkReader"/>'s on purpose: one generic reader over both kinds of choice and message would
/// set every field through an interface, and the runtime's stubs (interface dispatch the largest of them) are already a
/// sixth of a request's instructions.
/// </summary>
public static class CompletionReader
{
    public static bool TryRead(ReadOnlySpan<byte> json, out ChatCompletion? completion)
    {
        completion = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            var result = new ChatCompletion();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    result.Id = reader.GetString();
                }
                else if (reader.ValueTextEquals("created"u8))
                {
                    reader.Read();
                    result.Created = reader.TokenType == JsonTokenType.Null ? null : reader.GetInt64();
                }
                else if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    result.Model = reader.GetString();
                }
                else if (reader.ValueTextEquals("choices"u8))
                {
                    reader.Read();
                    result.Choices = ReadChoices(ref reader);
                }
                else if (reader.ValueTextEquals("usage"u8))
                {
                    reader.Read();
                    result.Usage = reader.TokenType == JsonTokenType.Null ? null : ChunkReader.ReadUsage(ref reader);
                }
                else if (reader.ValueTextEquals("system_fingerprint"u8))
                {
                    reader.Read();
                    result.SystemFingerprint = reader.GetString();
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // The body is this one object and nothing after it (whitespace aside), as the serializer required.
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }

            completion = result;
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            completion = null;
            return false;
        }
    }

    private static List<CompletionChoice>? ReadChoices(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return null;
        }

        ChunkReader.Expect(ref reader, JsonTokenType.StartArray);
        var choices = new List<CompletionChoice>(1);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            ChunkReader.Expect(ref reader, JsonTokenType.StartObject);
            var choice = new CompletionChoice();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("index"u8))
                {
                    reader.Read();
                    choice.Index = reader.GetInt32();
                }
                else if (reader.ValueTextEquals("message"u8))
                {
                    reader.Read();
                    choice.Message = reader.TokenType == JsonTokenType.Null ? null : ReadMessage(ref reader);
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

    private static ResponseMessage ReadMessage(ref Utf8JsonReader reader)
    {
        ChunkReader.Expect(ref reader, JsonTokenType.StartObject);
        var message = new ResponseMessage();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("role"u8))
            {
                reader.Read();
                message.Role = reader.GetString();
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                message.Content = reader.GetString();
            }
            else if (reader.ValueTextEquals("refusal"u8))
            {
                reader.Read();
                message.Refusal = reader.GetString();
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                reader.Read();
                message.ToolCalls = reader.TokenType == JsonTokenType.Null ? null : JsonElement.ParseValue(ref reader);
            }
            else
            {
                var name = reader.GetString()!;
                reader.Read();
                (message.ExtensionData ??= [])[name] = JsonElement.ParseValue(ref reader);
            }
        }

        return message;
    }
}
