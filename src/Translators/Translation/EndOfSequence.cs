using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>
/// Removes a provider's end-of-sequence marker (DeepInfra's <c>&lt;/s&gt;</c>, seen as content in its own
/// stream sample) from the end of an answer. Only at the end: a chunk whose text ends with the marker
/// is held back until the next event shows whether more text follows. If it does, the marker was text
/// and goes out unchanged; if the answer ends (finish reason, usage, [DONE], end of stream), it is cut.
/// </summary>
public sealed class EndOfSequence(string marker)
{
    private ChatCompletionChunk? _held;

    public string Marker => marker;

    /// <summary>The chunks to send now, in order, for one chunk read from the provider.</summary>
    public IEnumerable<ChatCompletionChunk> Push(ChatCompletionChunk chunk)
    {
        if (_held is { } held)
        {
            _held = null;
            if (!ContinuesText(chunk))
            {
                Strip(held);
            }

            yield return held;
        }

        if (EndsWithMarker(chunk) && !Finishes(chunk))
        {
            _held = chunk;
            yield break;
        }

        if (Finishes(chunk))
        {
            Strip(chunk);
        }

        yield return chunk;
    }

    /// <summary>The stream ended: what is still held back goes out without its marker.</summary>
    public ChatCompletionChunk? Flush()
    {
        var held = _held;
        _held = null;
        if (held is not null)
        {
            Strip(held);
        }

        return held;
    }

    /// <summary>A whole answer's text without the marker at its end.</summary>
    public static string? StripEnd(string? content, string marker) =>
        content is not null && content.EndsWith(marker, StringComparison.Ordinal) ? content[..^marker.Length] : content;

    private bool EndsWithMarker(ChatCompletionChunk chunk) =>
        chunk.Choices?.Exists(c => c.Delta?.Content?.EndsWith(marker, StringComparison.Ordinal) == true) == true;

    private static bool Finishes(ChatCompletionChunk chunk) => chunk.Choices?.Exists(c => c.FinishReason is not null) == true;

    private static bool ContinuesText(ChatCompletionChunk next) =>
        !Finishes(next) && next.Choices?.Exists(c => !string.IsNullOrEmpty(c.Delta?.Content)) == true;

    private void Strip(ChatCompletionChunk chunk)
    {
        foreach (var choice in chunk.Choices ?? [])
        {
            if (choice.Delta is { } delta)
            {
                delta.Content = StripEnd(delta.Content, marker);
            }
        }
    }
}
