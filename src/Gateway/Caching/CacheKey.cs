using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Requests;
using Gateway.Configuration;

namespace Gateway.Caching;

/// <summary>
/// The identity of a request's answer: a SHA-256 over the public model, the scope (the key's identity, never its reusable name, or shared), the
/// model's deployments, and the canonical request: every field that can change the answer, with object members
/// sorted and strings unescaped, so field order, whitespace and escaping do not matter. Fields that only shape the
/// delivery (<c>stream</c>, <c>stream_options</c>) or label the caller (<c>user</c>, <c>metadata</c>, <c>store</c>)
/// are left out, so a streamed request and a plain one share an entry.
/// </summary>
internal static class CacheKey
{
    private static readonly HashSet<string> NotPartOfTheAnswer = ["model", "stream", "stream_options", "user", "metadata", "store"];

    public static string For(ChatExchange exchange, CachePolicy policy)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(exchange.Request, OpenAiJson.Context.ChatCompletionRequest);
        using var document = JsonDocument.Parse(json);
        var canonical = new ArrayBufferWriter<byte>(json.Length + 64);
        using (var writer = new Utf8JsonWriter(canonical, OpenAiJson.WriterOptions))
        {
            WriteCanonical(writer, document.RootElement, topLevel: true);
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var scope = policy.Shared ? "shared" : "key:" + exchange.Key.Id;
        var deployments = string.Join(',', exchange.Route.Deployments.Select(d => d.Id));
        hash.AppendData(Encoding.UTF8.GetBytes($"llm-gateway cache v1\n{scope}\n{exchange.PublicModel}\n{deployments}\n"));
        hash.AppendData(canonical.WrittenSpan);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void WriteCanonical(Utf8JsonWriter w, JsonElement e, bool topLevel = false)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
                {
                    if (topLevel && NotPartOfTheAnswer.Contains(p.Name))
                    {
                        continue;
                    }

                    w.WritePropertyName(p.Name);
                    WriteCanonical(w, p.Value);
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray())
                {
                    WriteCanonical(w, item);
                }

                w.WriteEndArray();
                break;
            case JsonValueKind.String:
                w.WriteStringValue(e.GetString());
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }
}
