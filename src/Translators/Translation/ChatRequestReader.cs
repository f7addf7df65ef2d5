using System.Text.Json;
using Gateway.Translators.Contract;

namespace Gateway.Translators.Translation;

/// <summary>Parses and validates a chat completions body once; every failure names the offending field.</summary>
public static class ChatRequestReader
{
    public static bool TryRead(ReadOnlySpan<byte> body, out ChatCompletionRequest? request, out RequestError? error)
    {
        request = null;
        if (body.IsEmpty)
        {
            error = new RequestError("The request body is empty; expected a JSON object.", null, "invalid_json");
            return false;
        }

        // Decided here, once: a string that is not text (a lone surrogate escape) could not be written upstream.
        if (LoneSurrogates.Find(body) is { } field)
        {
            error = new RequestError($"The value of '{field}' is not valid text: it holds an unpaired UTF-16 surrogate escape.",
                field.Length > 0 ? field : null, "invalid_value");
            return false;
        }

        try
        {
            request = JsonSerializer.Deserialize(body, OpenAiJson.Context.ChatCompletionRequest);
        }
        catch (JsonException ex)
        {
            error = FromJsonException(ex);
            return false;
        }

        if (request is null)
        {
            error = new RequestError("The request body must be a JSON object.", null, "invalid_json");
            return false;
        }

        ShadowFields.Remove(request);
        error = ChatRequestValidator.Validate(request);
        return error is null;
    }

    private static RequestError FromJsonException(JsonException ex)
    {
        // The serializer wraps the reader's syntax errors (an internal JsonException subtype);
        // a type mismatch has no such inner exception and names the field, e.g. "$.messages[0].content".
        var param = ToParam(ex.Path);
        if (ex.InnerException is JsonException)
        {
            return new RequestError(
                $"We could not parse the JSON body of your request (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}).",
                null, "invalid_json");
        }

        if (param is null)
        {
            return new RequestError("We could not parse the JSON body of your request.", null, "invalid_json");
        }

        return new RequestError($"Invalid type for '{param}'.", param, "invalid_type");
    }

    /// <summary>"$.messages[0].content" -> "messages[0].content"; "$" -> null.</summary>
    internal static string? ToParam(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$")
        {
            return null;
        }

        var trimmed = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');
        // STJ writes unusual names as ['name']; keep them readable.
        return trimmed.Replace("['", ".", StringComparison.Ordinal).Replace("']", "", StringComparison.Ordinal).TrimStart('.');
    }
}
