using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace Gateway.Translators.Translation;

/// <summary>
/// Finds a JSON string (or property name) holding a lone UTF-16 surrogate escape (<c>"\ud800"</c>, <c>"\udfff"</c>):
/// valid JSON syntax, but not text. Such a string cannot be written again as UTF-8, so a request carrying one is
/// refused when it is read, naming the field, instead of failing later in a request writer.
/// </summary>
public static class LoneSurrogates
{
    /// <summary>The path of the first field with a lone surrogate escape (e.g. <c>tools[0].function.name</c>), or null.</summary>
    public static string? Find(ReadOnlySpan<byte> json)
    {
        // Fast path: no escaped surrogate anywhere.
        if (!MayContainSurrogateEscape(json))
        {
            return null;
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var path = new List<object>();
        string? property = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        if (reader.ValueIsEscaped && HasLoneSurrogate(reader.ValueSpan))
                        {
                            // The name itself cannot be shown (it is not text): name its object instead.
                            return Render(path.Take(path.Count - 1).ToList(), "(property name)");
                        }

                        property = reader.GetString();

                        continue;
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        Enter(path, ref property);
                        path.Add(reader.TokenType == JsonTokenType.StartArray ? -1 : (object)"");
                        continue;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        path.RemoveAt(path.Count - 1);
                        continue;
                    case JsonTokenType.String when reader.ValueIsEscaped && HasLoneSurrogate(reader.ValueSpan):
                        Enter(path, ref property);
                        return Render(path, null);
                    default:
                        Enter(path, ref property);
                        continue;
                }
            }
        }
        catch (JsonException)
        {
            // Malformed JSON is reported by the deserializer, with its position.
        }

        return null;
    }

    private static bool MayContainSurrogateEscape(ReadOnlySpan<byte> json)
    {
        for (var i = json.IndexOf("\\u"u8); i >= 0 && i + 3 < json.Length; )
        {
            if ((json[i + 2] | 0x20) == 'd' && (json[i + 3] | 0x20) is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'b' or (byte)'c' or (byte)'d' or (byte)'e' or (byte)'f')
            {
                return true;
            }

            var next = json[(i + 2)..].IndexOf("\\u"u8);
            i = next < 0 ? -1 : i + 2 + next;
        }

        return false;
    }

    /// <summary>Reads the \uXXXX escapes of a raw (still escaped) string and checks that surrogates come in pairs.</summary>
    private static bool HasLoneSurrogate(ReadOnlySpan<byte> raw)
    {
        var pendingHigh = false;
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\')
            {
                if (pendingHigh)
                {
                    return true;
                }

                continue;
            }

            var kind = raw[i + 1];
            if (kind != 'u')
            {
                if (pendingHigh)
                {
                    return true;
                }

                i++;
                continue;
            }

            if (!Utf8Parser.TryParse(raw.Slice(i + 2, 4), out ushort unit, out _, 'x'))
            {
                return true;
            }

            i += 5;
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                if (pendingHigh)
                {
                    return true;
                }

                pendingHigh = true;
            }
            else if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                if (!pendingHigh)
                {
                    return true;
                }

                pendingHigh = false;
            }
            else if (pendingHigh)
            {
                return true;
            }
        }

        return pendingHigh;
    }

    /// <summary>A value is about to be read inside the current container: name its place.</summary>
    private static void Enter(List<object> path, ref string? property)
    {
        if (path.Count == 0)
        {
            return;
        }

        if (path[^1] is int index)
        {
            path[^1] = index + 1;
        }
        else
        {
            path[^1] = property ?? "";
            property = null;
        }
    }

    private static string Render(List<object> path, string? last)
    {
        var text = new StringBuilder();
        foreach (var part in path)
        {
            if (part is int index)
            {
                text.Append('[').Append(index).Append(']');
            }
            else if (part is string name && name.Length > 0)
            {
                text.Append(text.Length > 0 ? "." : "").Append(name);
            }
        }

        if (last is not null)
        {
            text.Append(text.Length > 0 ? "." : "").Append(last);
        }

        return text.ToString();
    }
}
