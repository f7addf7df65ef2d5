using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gateway.Tests.Contracts;
using Gateway.Translators.Contract;

namespace Gateway.Tests.Translators;

/// <summary>
/// The hand-written reader of whole answers (CompletionReader) against the serializer it replaced: on the seeds'
/// answers and thousands of generated ones (any order, escapes, unknown and vendor fields, nulls, duplicates, whitespace),
/// both read the same answer; on broken ones (wrong types, truncation, trailing bytes, comments), both refuse.
/// </summary>
public sealed class CompletionReaderTests
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly string[] Texts =
        ["", "plain", "caf\u00e9 \u6a21\u578b", "quote \" backslash \\ newline \n tab \t", "fox \ud83e\udd8a", "<b>&'", "\u0001 control", "ok</s>"];

    /// <summary>What the serializer read (null where it refused), and what the reader read.</summary>
    private static (string? Serializer, string? Reader) BothRead(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        string? serializer;
        try
        {
            var read = JsonSerializer.Deserialize(bytes, OpenAiJson.Context.ChatCompletion);
            serializer = read is null ? null : JsonSerializer.Serialize(read, OpenAiJson.Context.ChatCompletion);
        }
        catch (JsonException)
        {
            serializer = null;
        }

        var reader = CompletionReader.TryRead(bytes, out var completion) ? JsonSerializer.Serialize(completion!, OpenAiJson.Context.ChatCompletion) : null;
        return (serializer, reader);
    }

    [Theory]
    [InlineData("deepinfra.response-1.json")]
    [InlineData("deepinfra.response-2.json")]
    public void SeedAnswers_AreReadAsTheSerializerReadThem(string seed)
    {
        var (serializer, reader) = BothRead(ContractHarness.Seed(seed));

        Assert.NotNull(reader);
        Assert.Equal(serializer, reader);
    }

    [Fact]
    public void GeneratedAnswers_AreReadAsTheSerializerReadThem()
    {
        var random = new Random(20261207);
        var read = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var json = Completion(random);
            var (serializer, reader) = BothRead(json);
            Assert.True(serializer == reader, $"serializer: {serializer}\nreader: {reader}\nfrom: {json}");
            read += reader is null ? 0 : 1;
        }

        // Generated answers are well formed: nearly all must be read, or this test compares refusals only.
        Assert.InRange(read, 2_900, 3_000);
    }

    [Fact]
    public void BrokenAnswers_AreRefusedWhereTheSerializerRefusedThem()
    {
        var random = new Random(7);
        var refused = 0;
        for (var i = 0; i < 3_000; i++)
        {
            var json = Broken(random, Completion(random));
            var (serializer, reader) = BothRead(json);
            Assert.True(serializer == reader, $"serializer: {serializer}\nreader: {reader}\nfrom: {json}");
            refused += reader is null ? 1 : 0;
        }

        Assert.InRange(refused, 1_500, 3_000);
    }

    [Fact]
    public void ANullChoice_IsRefused_WhereTheSerializerGaveANullChoice()
    {
        var json = """{"id":"x","choices":[null],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"""u8;

        Assert.Null(Assert.Single(JsonSerializer.Deserialize(json, OpenAiJson.Context.ChatCompletion)!.Choices!));
        Assert.False(CompletionReader.TryRead(json, out var completion));
        Assert.Null(completion);
    }

    [Fact]
    public void VendorFields_OfMessageAndUsage_AreKept_AndUnknownOnesElsewhereSkipped()
    {
        var json = """
            {"id":"a","object":"chat.completion","x":{"deep":[1,{"n":null}]},"choices":[{"index":0,"x":[1],"message":{"role":"assistant",
             "content":"hi","reasoning_content":"because","x_vendor":{"k":[true]}},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"estimated_cost":9e-7}}
            """u8;

        Assert.True(CompletionReader.TryRead(json, out var completion));
        var message = completion!.Choices![0].Message!;
        Assert.Equal(["reasoning_content", "x_vendor"], message.ExtensionData!.Keys);
        Assert.Equal("because", message.ExtensionData["reasoning_content"].GetString());
        Assert.Equal(9e-7, completion.Usage!.ExtensionData!["estimated_cost"].GetDouble());
        Assert.Equal((3, 1, 4), (completion.Usage.PromptTokens, completion.Usage.CompletionTokens, completion.Usage.TotalTokens));
    }

    private static string Completion(Random r)
    {
        var fields = new List<string>();
        Maybe(r, fields, "id", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "object", () => "\"chat.completion\"");
        Maybe(r, fields, "created", () => Nullable(r, () => r.NextInt64(0, 4_000_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Maybe(r, fields, "model", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "choices", () => r.Next(10) == 0 ? "null" : Array(r, Enumerable.Range(0, r.Next(4)).Select(i => Choice(r, i))), always: true);
        Maybe(r, fields, "usage", () => r.Next(8) == 0 ? "null" : Usage(r));
        Maybe(r, fields, "system_fingerprint", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "x_unknown", () => Value(r, 0));
        Maybe(r, fields, "model", () => Text(r), chance: 10);
        return Object(r, fields);
    }

    private static string Choice(Random r, int index)
    {
        var fields = new List<string>();
        Maybe(r, fields, "index", () => index.ToString(System.Globalization.CultureInfo.InvariantCulture), always: true);
        Maybe(r, fields, "message", () => r.Next(12) == 0 ? "null" : Message(r), always: true);
        Maybe(r, fields, "logprobs", () => r.Next(2) == 0 ? "null" : Value(r, 1));
        Maybe(r, fields, "finish_reason", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "x_choice", () => Value(r, 0));
        return Object(r, fields);
    }

    private static string Message(Random r)
    {
        var fields = new List<string>();
        Maybe(r, fields, "role", () => Nullable(r, () => "\"assistant\""));
        Maybe(r, fields, "content", () => Nullable(r, () => Text(r)), always: true);
        Maybe(r, fields, "refusal", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "tool_calls", () => r.Next(3) == 0 ? "null" : Value(r, 1));
        Maybe(r, fields, "reasoning_content", () => Nullable(r, () => Text(r)));
        Maybe(r, fields, "x_vendor", () => Value(r, 0));
        Maybe(r, fields, "content", () => Text(r), chance: 10);
        return Object(r, fields);
    }

    private static string Usage(Random r)
    {
        var fields = new List<string>();
        foreach (var name in new[] { "prompt_tokens", "completion_tokens", "total_tokens" })
        {
            Maybe(r, fields, name, () => r.Next(0, 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Maybe(r, fields, "estimated_cost", () => (r.NextDouble() / 1000).ToString("R", System.Globalization.CultureInfo.InvariantCulture));
        Maybe(r, fields, "prompt_tokens_details", () => Value(r, 1));
        return Object(r, fields);
    }

    /// <summary>Any JSON value, nested up to three levels.</summary>
    private static string Value(Random r, int depth) => (depth > 2 ? r.Next(5) : r.Next(7)) switch
    {
        0 => "null",
        1 => r.Next(2) == 0 ? "true" : "false",
        2 => new[] { "0", "-17", "3.25", "1e-7", "12345678901234" }[r.Next(5)],
        3 or 4 => Text(r),
        5 => Array(r, Enumerable.Range(0, r.Next(3)).Select(_ => Value(r, depth + 1))),
        _ => Object(r, [.. Enumerable.Range(0, r.Next(3)).Select(i => Name(r, "k" + i) + ":" + Space(r) + Value(r, depth + 1))]),
    };

    private static void Maybe(Random r, List<string> fields, string name, Func<string> value, bool always = false, int chance = 2)
    {
        if (always ? r.Next(20) != 0 : r.Next(chance) == 0)
        {
            fields.Insert(r.Next(fields.Count + 1), Name(r, name) + ":" + Space(r) + value());
        }
    }

    private static string Nullable(Random r, Func<string> value) => r.Next(5) == 0 ? "null" : value();

    private static string Text(Random r) => JsonSerializer.Serialize(Texts[r.Next(Texts.Length)], r.Next(2) == 0 ? Relaxed : JsonSerializerOptions.Default);

    // A name is sometimes written with its first letter escaped: the same name to any JSON reader.
    private static string Name(Random r, string name) => r.Next(8) == 0 ? $"\"\\u{(int)name[0]:x4}{name[1..]}\"" : $"\"{name}\"";

    private static string Space(Random r) => new[] { "", "", " ", "\n  ", "\t" }[r.Next(5)];

    private static string Object(Random r, IEnumerable<string> fields) => "{" + Space(r) + string.Join("," + Space(r), fields) + Space(r) + "}";

    private static string Array(Random r, IEnumerable<string> items) => "[" + string.Join("," + Space(r), items) + Space(r) + "]";

    /// <summary>An answer broken one way: cut short, followed by more, a value of the wrong type, a comment, a trailing comma.</summary>
    private static string Broken(Random r, string json)
    {
        static string Swap(string json, string from, string to) => json.Contains(from, StringComparison.Ordinal) ? json.Replace(from, to, StringComparison.Ordinal) : json + "x";
        return r.Next(10) switch
        {
            0 => json[..r.Next(json.Length)],
            1 => json + new[] { "x", "{}", ",", " 1", "]" }[r.Next(5)],
            2 => Swap(json, "\"index\":0", "\"index\":\"0\""),
            3 => Swap(json, "\"index\":0", "\"index\":1.5"),
            4 => Swap(json, "\"index\":0", "\"index\":null"),
            5 => Swap(json, "\"role\":\"assistant\"", "\"role\":5"),
            6 => Swap(json, "\"prompt_tokens\":", "\"prompt_tokens\":\"1\",\"x\":"),
            7 => "{/* a comment */" + json[1..],
            8 => json[..json.LastIndexOf('}')] + ",}",
            _ => Swap(json, "\"created\":", "\"created\":true,\"x\":"),
        };
    }
}
