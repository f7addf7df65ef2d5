using System.Text;
using System.Text.Json;

namespace Gateway.Translators.Translation;

/// <summary>
/// Reads a human message out of any of the error shapes the providers use:
/// <c>{"error":{"message"}}</c>, <c>{"error":"..."}</c>, <c>{"status_code","message"}</c>,
/// <c>{"detail":"..."}</c>, <c>{"detail":[{"loc","msg"}]}</c>, an HTML page, or plain text.
/// </summary>
public static class ErrorBodies
{
    private const int MaxMessageLength = 400;

    public static string ExtractMessage(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
        {
            return "(empty body)";
        }

        var first = FirstNonWhitespace(body);
        if (first == (byte)'{')
        {
            try
            {
                using var doc = JsonDocument.Parse(body.ToArray());
                var message = FromJson(doc.RootElement);
                if (message is not null)
                {
                    return Limit(message);
                }
            }
            catch (JsonException)
            {
                // Not JSON after all: fall through to plain text.
            }
        }

        if (first == (byte)'<')
        {
            return "an HTML error page" + TitleOf(Encoding.UTF8.GetString(body.Length > 4096 ? body[..4096] : body));
        }

        return Limit(Encoding.UTF8.GetString(body.Length > MaxMessageLength * 4 ? body[..(MaxMessageLength * 4)] : body).Trim());
    }

    /// <summary>The message of an <c>error</c> value: a string, or an object with <c>message</c>.</summary>
    public static string DescribeError(JsonElement error) => Limit(error.ValueKind switch
    {
        JsonValueKind.String => error.GetString()!,
        JsonValueKind.Object when error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String => m.GetString()!,
        _ => error.GetRawText(),
    });

    private static string? FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (root.TryGetProperty("error", out var error))
        {
            if (error.ValueKind == JsonValueKind.String)
            {
                return error.GetString();
            }

            if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
            {
                return m.GetString();
            }
        }

        if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
        {
            return message.GetString();
        }

        if (root.TryGetProperty("detail", out var detail))
        {
            return detail.ValueKind switch
            {
                JsonValueKind.String => detail.GetString(),
                JsonValueKind.Array => string.Join("; ", detail.EnumerateArray().Select(DescribeDetail)),
                _ => null,
            };
        }

        return null;
    }

    // FastAPI validation detail: {"loc":["body","temperature"],"msg":"...","type":"..."}.
    private static string DescribeDetail(JsonElement item)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return item.ToString();
        }

        var msg = item.TryGetProperty("msg", out var m) ? m.ToString() : item.ToString();
        if (item.TryGetProperty("loc", out var loc) && loc.ValueKind == JsonValueKind.Array)
        {
            var path = string.Join(".", loc.EnumerateArray().Select(e => e.ToString()).Where(s => s != "body"));
            return path.Length > 0 ? $"{path}: {msg}" : msg;
        }

        return msg;
    }

    private static string TitleOf(string html)
    {
        var start = html.IndexOf("<title>", StringComparison.OrdinalIgnoreCase);
        var end = start < 0 ? -1 : html.IndexOf("</title>", start, StringComparison.OrdinalIgnoreCase);
        return end > start ? $" ({Limit(html[(start + 7)..end].Trim())})" : "";
    }

    private static byte FirstNonWhitespace(ReadOnlySpan<byte> body)
    {
        foreach (var b in body)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return b;
            }
        }

        return 0;
    }

    private static string Limit(string s) => s.Length <= MaxMessageLength ? s : string.Concat(s.AsSpan(0, MaxMessageLength), "…");
}
