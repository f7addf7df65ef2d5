using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>Reads and writes <c>content</c> as a string or an array of parts, as OpenAI allows.</summary>
public sealed class MessageContentConverter : JsonConverter<MessageContent>
{
    public override MessageContent? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return new MessageContent(reader.GetString()!);
            case JsonTokenType.StartArray:
                var parts = new List<ContentPart>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        throw new JsonException("Each content part must be an object.");
                    }

                    parts.Add(JsonSerializer.Deserialize(ref reader, OpenAiJson.Context.ContentPart)!);
                }

                return new MessageContent(parts);
            default:
                throw new JsonException("Message content must be a string or an array of content parts.");
        }
    }

    public override void Write(Utf8JsonWriter writer, MessageContent value, JsonSerializerOptions options)
    {
        if (value.Text is not null)
        {
            writer.WriteStringValue(value.Text);
            return;
        }

        writer.WriteStartArray();
        foreach (var part in value.Parts!)
        {
            JsonSerializer.Serialize(writer, part, OpenAiJson.Context.ContentPart);
        }

        writer.WriteEndArray();
    }
}
