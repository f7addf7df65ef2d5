using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Translators.Contract;

/// <summary>One entry of <c>messages</c>. Roles stay open strings; validation decides what is accepted.</summary>
public sealed class ChatMessage
{
    public string? Role { get; set; }
    public MessageContent? Content { get; set; }
    public string? Name { get; set; }
    public JsonElement? ToolCalls { get; set; }
    public string? ToolCallId { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}

/// <summary>Message content: either a plain string or an array of typed parts.</summary>
[JsonConverter(typeof(MessageContentConverter))]
public sealed class MessageContent
{
    public MessageContent(string text) => Text = text;

    public MessageContent(IReadOnlyList<ContentPart> parts) => Parts = parts;

    public string? Text { get; }
    public IReadOnlyList<ContentPart>? Parts { get; }

    /// <summary>True when every part is text, so the content can be flattened to one string.</summary>
    public bool IsTextOnly => Parts is null || Parts.All(p => p.Type == "text");

    /// <summary>The text of a string content, or the text parts one per line (so words of two parts never run together).</summary>
    public string ToPlainText()
    {
        if (Text is not null)
        {
            return Text;
        }

        if (Parts!.Count == 1)
        {
            return Parts[0].Text ?? "";
        }

        return string.Join('\n', Parts.Where(p => p.Type == "text").Select(p => p.Text));
    }
}

public sealed class ContentPart
{
    public string? Type { get; set; }
    public string? Text { get; set; }

    [JsonExtensionData]
    public Dictionary<string, JsonElement>? ExtensionData { get; set; }
}
