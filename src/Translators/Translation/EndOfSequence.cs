using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Removes a provider's end-of-sequence marker (DeepInfra's <c>&lt;/s&gt;</c>, seen as content in its own stream
/// sample) from the end of each choice of an answer, and its token from the end of the choice's <c>logprobs</c>. Only
/// at the end: a chunk whose text ends with the marker is held back, per choice, until that choice's next event shows
/// whether more text follows. If it does, the marker was text and goes out unchanged; if the choice ends (finish
/// reason, [DONE], end of stream), it is cut. With <c>n</c> &gt; 1 the choices interleave, so each has its own hold:
/// another choice's text says nothing about this one's end.
/// </summary>
public sealed class EndOfSequence(string marker)
{
    private readonly Dictionary<int, ChatCompletionChunk> _held = [];

    public string Marker => marker;

    /// <summary>The chunks to send now, in order, for one chunk read from the provider.</summary>
    public IEnumerable<ChatCompletionChunk> Push(ChatCompletionChunk chunk)
    {
        var choices = chunk.Choices ?? [];
        if (choices.Count == 0)
        {
            // A chunk of no choice (the usage chunk) comes after every choice has ended: what is held ends there.
            foreach (var held in Flush())
            {
                yield return held;
            }

            yield return chunk;
            yield break;
        }

        foreach (var choice in choices)
        {
            if (_held.Remove(choice.Index, out var held))
            {
                if (!ContinuesText(choice))
                {
                    Strip(held);
                }

                yield return held;
            }
        }

        // One choice per chunk (how providers stream): held back alone when its text may end with the marker.
        if (choices.Count == 1 && EndsWithMarker(choices[0]) && choices[0].FinishReason is null)
        {
            _held[choices[0].Index] = chunk;
            yield break;
        }

        foreach (var choice in choices)
        {
            if (choice.FinishReason is not null)
            {
                Strip(choice);
            }
        }

        yield return chunk;
    }

    /// <summary>The stream ended: what is still held back goes out without its markers, in choice order.</summary>
    public IReadOnlyList<ChatCompletionChunk> Flush()
    {
        var held = _held.OrderBy(h => h.Key).Select(h => h.Value).ToList();
        _held.Clear();
        foreach (var chunk in held)
        {
            Strip(chunk);
        }

        return held;
    }

    /// <summary>A whole answer's text without the marker at its end.</summary>
    public static string? StripEnd(string? content, string marker) =>
        content is not null && content.EndsWith(marker, StringComparison.Ordinal) ? content[..^marker.Length] : content;

    /// <summary>
    /// A choice's <c>logprobs</c> without the marker's token at the end of its <c>content</c> list (the token a client
    /// would otherwise see, though the text no longer has it); anything else unchanged.
    /// </summary>
    public static JsonElement? StripLogprobs(JsonElement? logprobs, string marker)
    {
        if (logprobs is not { ValueKind: JsonValueKind.Object } value ||
            !value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array || content.GetArrayLength() == 0)
        {
            return logprobs;
        }

        var last = content[content.GetArrayLength() - 1];
        if (!last.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String || token.GetString() != marker)
        {
            return logprobs;
        }

        var node = JsonNode.Parse(value.GetRawText())!.AsObject();
        var list = node["content"]!.AsArray();
        list.RemoveAt(list.Count - 1);
        using var stripped = JsonDocument.Parse(node.ToJsonString());
        return stripped.RootElement.Clone();
    }

    private bool EndsWithMarker(ChunkChoice choice) => choice.Delta?.Content?.EndsWith(marker, StringComparison.Ordinal) == true;

    private static bool ContinuesText(ChunkChoice next) => next.FinishReason is null && !string.IsNullOrEmpty(next.Delta?.Content);

    private void Strip(ChatCompletionChunk chunk)
    {
        foreach (var choice in chunk.Choices ?? [])
        {
            Strip(choice);
        }
    }

    private void Strip(ChunkChoice choice)
    {
        if (choice.Delta is { } delta && delta.Content?.EndsWith(marker, StringComparison.Ordinal) == true)
        {
            delta.Content = StripEnd(delta.Content, marker);
            choice.Logprobs = StripLogprobs(choice.Logprobs, marker);
        }
    }
}
