using System.Text.Json;

namespace ProviderSimulator;

/// <summary>The parts of an OpenAI-shaped request body the simulator acts on.</summary>
public sealed class ChatRequestView
{
    public string? Model { get; private init; }
    public List<(string Role, string Text)> Messages { get; private init; } = [];
    public int? MaxTokens { get; private init; }
    public double? Temperature { get; private init; }
    public double? TopP { get; private init; }
    public bool Stream { get; private init; }
    public bool IncludeUsage { get; private init; }

    /// <summary>How many choices were asked for (<c>n</c>), 1 when absent.</summary>
    public int Choices { get; private init; } = 1;

    /// <summary>Per-token log probabilities were asked for.</summary>
    public bool Logprobs { get; private init; }

    /// <summary>The names of the functions offered as tools.</summary>
    public List<string> ToolNames { get; private init; } = [];

    /// <summary>Every top-level field the caller sent, to hold it against what the provider documents.</summary>
    public List<string> Fields { get; private init; } = [];

    /// <summary>Every field of a message, and every field of a content part, the caller sent (each named once), for the same check below the top.</summary>
    public HashSet<string> MessageFields { get; private init; } = [];

    public HashSet<string> PartFields { get; private init; } = [];

    /// <summary>The types of content parts the caller sent.</summary>
    public HashSet<string> PartTypes { get; private init; } = [];

    /// <summary>The text of the last user message, where per-request directives live.</summary>
    public string LastUserText => Messages.LastOrDefault(m => m.Role == "user").Text ?? "";

    private static IEnumerable<JsonElement> Parts(JsonElement messages) => messages.EnumerateArray()
        .Where(m => m.ValueKind == JsonValueKind.Object && m.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.Array)
        .SelectMany(m => m.GetProperty("content").EnumerateArray()).Where(p => p.ValueKind == JsonValueKind.Object);

    public static ChatRequestView? TryParse(string body, out string? problem)
    {
        problem = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                problem = "body must be a JSON object";
                return null;
            }

            if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            {
                problem = "messages is required";
                return null;
            }

            var list = new List<(string, string)>();
            foreach (var m in messages.EnumerateArray())
            {
                var role = m.TryGetProperty("role", out var r) ? r.GetString() ?? "" : "";
                list.Add((role, ContentText(m)));
            }

            return new ChatRequestView
            {
                Model = root.TryGetProperty("model", out var model) ? model.GetString() : null,
                Messages = list,
                MaxTokens = root.TryGetProperty("max_tokens", out var mt) && mt.ValueKind == JsonValueKind.Number ? mt.GetInt32() : null,
                Temperature = Number(root, "temperature"),
                TopP = Number(root, "top_p"),
                Stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True,
                IncludeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
                    && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True,
                Fields = [.. root.EnumerateObject().Select(p => p.Name)],
                MessageFields = [.. messages.EnumerateArray().Where(m => m.ValueKind == JsonValueKind.Object).SelectMany(m => m.EnumerateObject().Select(p => p.Name))],
                PartFields = [.. Parts(messages).SelectMany(p => p.EnumerateObject().Select(f => f.Name))],
                PartTypes = [.. Parts(messages).Select(p => p.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "")],
                Choices = root.TryGetProperty("n", out var n) && n.ValueKind == JsonValueKind.Number ? Math.Clamp(n.GetInt32(), 1, 8) : 1,
                Logprobs = root.TryGetProperty("logprobs", out var lp) && lp.ValueKind == JsonValueKind.True,
                ToolNames = root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array
                    ? [.. tools.EnumerateArray().Where(t => t.TryGetProperty("function", out var f) && f.TryGetProperty("name", out _))
                        .Select(t => t.GetProperty("function").GetProperty("name").GetString() ?? "")]
                    : [],
            };
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            problem = "invalid JSON body: " + ex.Message;
            return null;
        }
    }

    private static double? Number(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    private static string ContentText(JsonElement message)
    {
        if (!message.TryGetProperty("content", out var content))
        {
            return "";
        }

        return content.ValueKind switch
        {
            JsonValueKind.String => content.GetString()!,
            JsonValueKind.Array => string.Concat(content.EnumerateArray()
                .Where(p => p.TryGetProperty("text", out _))
                .Select(p => p.GetProperty("text").GetString())),
            _ => "",
        };
    }
}
