using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;

namespace Gateway.Tests.Translators;

public sealed class ErrorBodiesTests
{
    [Theory]
    [InlineData("""{"error":{"message":"Not authenticated","type":"x"}}""", "Not authenticated")]
    [InlineData("""{"error":"Insufficient credits"}""", "Insufficient credits")]
    [InlineData("""{"status_code":405,"message":"Balance exhausted"}""", "Balance exhausted")]
    [InlineData("""{"detail":"Rate limited"}""", "Rate limited")]
    [InlineData("""{"detail":[{"loc":["body","temperature"],"msg":"too high","type":"value_error"},{"loc":["body"],"msg":"bad"}]}""", "temperature: too high; bad")]
    [InlineData("<html><head><title>405 Not Allowed</title></head></html>", "an HTML error page (405 Not Allowed)")]
    [InlineData("upstream connect error", "upstream connect error")]
    [InlineData("", "(empty body)")]
    [InlineData("""{"unexpected":true}""", """{"unexpected":true}""")]
    public void ExtractMessage_ReadsEveryProviderShape(string body, string expected) =>
        Assert.Equal(expected, ErrorBodies.ExtractMessage(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void ExtractMessage_LongBody_IsCut() =>
        Assert.True(ErrorBodies.ExtractMessage(Encoding.UTF8.GetBytes(new string('x', 10_000))).Length <= 401);
}

public sealed class RetryAfterTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("retry-after", "7", 7000)]
    [InlineData("retry-after", "1.5", 1500)]
    [InlineData("retry-after-ms", "250", 250)]
    [InlineData("retry-after", "Sun, 22 Nov 2026 12:00:30 GMT", 30000)]
    public void Read_UnderstandsSecondsMillisecondsAndDates(string header, string value, double expectedMs) =>
        Assert.Equal(expectedMs, RetryAfter.Read(h => h == header ? value : null, Now)!.Value.TotalMilliseconds);

    [Fact]
    public void Read_Missing_IsNull() => Assert.Null(RetryAfter.Read(_ => null, Now));

    [Theory]
    [InlineData("2026-11-22T12:00:10Z", 10)]
    [InlineData("1795348810", 10)]
    [InlineData("2026-11-22T11:00:00Z", 0)]
    public void FromInstant_IsDelayUntilThenNeverNegative(string value, double seconds) =>
        Assert.Equal(seconds, RetryAfter.FromInstant(value, Now)!.Value.TotalSeconds);
}

public sealed class FinishReasonAndEstimatorTests
{
    [Theory]
    [InlineData("stop", "stop")]
    [InlineData("eos", "stop")]
    [InlineData("finish", "stop")]
    [InlineData("max_tokens", "length")]
    [InlineData("tool_use", "tool_calls")]
    [InlineData("brand_new_reason", "brand_new_reason")]
    public void FinishReasons_MapKnownAndPassUnknown(string input, string expected) => Assert.Equal(expected, FinishReasons.Normalize(input));

    [Theory]
    [InlineData("", 0)]
    [InlineData("Hello", 1)]
    [InlineData("Hello world", 2)]
    [InlineData("Hello, world!", 4)]
    [InlineData("internationalization", 5)]
    [InlineData("1234567", 3)]
    [InlineData("日本語", 3)]
    [InlineData("line\nbreak", 3)]
    public void TokenEstimator_FollowsPreTokenizerShape(string text, int expected) => Assert.Equal(expected, TokenEstimator.Estimate(text));

    [Fact]
    public void TokenEstimator_EnglishProse_IsNearFourCharactersPerToken()
    {
        const string prose = "The quick brown fox jumps over the lazy dog while the farmer watches from the porch, " +
            "sipping coffee and wondering whether the weather will hold until the harvest is finished.";
        var estimate = TokenEstimator.Estimate(prose);

        // cl100k gives 33 tokens for this sentence (Metering/TokenCounterTests).
        Assert.InRange(estimate, 32, 40);
    }
}

public sealed class PriceTests
{
    [Theory]
    [InlineData(30_000, 50_000, 1_000_000, 1_000_000, 80_000)]
    [InlineData(30_000, 50_000, 15, 16, 1)]
    [InlineData(30_000, 50_000, 10, 5, 1)]
    [InlineData(30_000, 50_000, 1, 1, 0)]
    [InlineData(0, 0, 123456, 654321, 0)]
    public void CostMicros_IsIntegerAndRoundedOnce(long inMicrosPerM, long outMicrosPerM, long prompt, long completion, long expected) =>
        Assert.Equal(expected, new Price(inMicrosPerM, outMicrosPerM).CostMicros(prompt, completion));
}

public sealed class ParameterGateTests
{
    private static ChatCompletionRequest Parse(string json) => JsonSerializer.Deserialize(json, OpenAiJson.Context.ChatCompletionRequest)!;

    private static readonly DeploymentTarget Target = new() { PublicModel = "pub", UpstreamModel = "up" };

    [Fact]
    public void Apply_NeverAddsParameters()
    {
        var request = Parse("""{"model":"pub","messages":[{"role":"user","content":"x"}]}""");
        var provider = (IChatProvider)ProviderCatalog.Find("hive-v3")!;
        var body = new System.Buffers.ArrayBufferWriter<byte>();

        Assert.Null(provider.WriteRequest(request, Target, stream: false, body));
        Assert.Equal("""{"model":"up","messages":[{"role":"user","content":"x"}]}""", Encoding.UTF8.GetString(body.WrittenSpan));
    }

    [Fact]
    public void Apply_DoesNotChangeTheClientsRequest()
    {
        var request = Parse("""{"model":"pub","messages":[{"role":"user","content":"x"}],"max_tokens":9999,"seed":1}""");
        ParameterGate.Apply(request, new ParameterSupport { Documented = new Dictionary<string, ParameterRange?> { ["max_tokens"] = new(1, 10, true) } },
            Target with { DropParameters = new HashSet<string> { "seed" } }, out var error);

        Assert.Null(error);
        Assert.Equal(9999, request.MaxTokens);
        Assert.Equal(1, request.Seed);
        Assert.Equal("pub", request.Model);
    }

    [Fact]
    public void Apply_RangeErrorNamesTheFieldTheClientUsed()
    {
        var request = Parse("""{"model":"pub","messages":[{"role":"user","content":"x"}],"max_completion_tokens":50}""");
        ParameterGate.Apply(request, new ParameterSupport { Documented = new Dictionary<string, ParameterRange?> { ["max_tokens"] = new(1, 10) } },
            Target, out var error);

        Assert.Equal("max_completion_tokens", error!.Param);
    }

    [Fact]
    public void ChatRequestReader_KeepsUnknownFields()
    {
        Assert.True(ChatRequestReader.TryRead("""{"model":"m","messages":[{"role":"user","content":"x","x_extra":1}],"top_k":5}"""u8,
            out var request, out _));

        Assert.Equal(5, request!.ExtensionData!["top_k"].GetInt32());
        Assert.Equal(1, request.Messages![0].ExtensionData!["x_extra"].GetInt32());
    }

    [Theory]
    [InlineData("$.messages[0].content", "messages[0].content")]
    [InlineData("$.temperature", "temperature")]
    [InlineData("$", null)]
    [InlineData("$['odd name']", "odd name")]
    public void ToParam_TurnsJsonPathsIntoParamNames(string path, string? expected) => Assert.Equal(expected, ChatRequestReader.ToParam(path));
}

public sealed class RateLimitHeaderTests
{
    [Theory]
    [InlineData(12, "12ms")]
    [InlineData(999, "999ms")]
    [InlineData(1000, "1s")]
    [InlineData(1500, "1.5s")]
    [InlineData(360_000, "6m0s")]
    [InlineData(61_250, "1m1.25s")]
    [InlineData(3_600_000, "1h0m0s")]
    [InlineData(3_723_007, "1h2m3.007s")]
    [InlineData(59_990, "59.99s")]
    [InlineData(0, "0ms")]
    public void Duration_IsWrittenLikeOpenAi(long ms, string expected) =>
        Assert.Equal(expected, Gateway.RateLimiting.RateLimitHeaders.Duration(TimeSpan.FromMilliseconds(ms)));

    [Fact]
    public void Duration_ReadsAsHoursMinutesAndSecondsWithTheFractionTrimmed()
    {
        // The header is written from integer parts; read it back with the plainest parse and it is the same duration.
        var random = new Random(23);
        for (var i = 0; i < 20_000; i++)
        {
            var ms = random.NextInt64(0, (long)Math.Pow(10, random.Next(1, 9)));
            var text = Gateway.RateLimiting.RateLimitHeaders.Duration(TimeSpan.FromMilliseconds(ms));
            Assert.Equal(ms, ParseMs(text));
            Assert.DoesNotMatch(@"\.\d*0s$", text);
        }
    }

    private static long ParseMs(string text)
    {
        if (text.EndsWith("ms", StringComparison.Ordinal))
        {
            return long.Parse(text[..^2], System.Globalization.CultureInfo.InvariantCulture);
        }

        var match = System.Text.RegularExpressions.Regex.Match(text, @"^(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d{1,3})?)s$");
        Assert.True(match.Success, text);
        long Part(int g) => match.Groups[g].Success ? long.Parse(match.Groups[g].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
        var seconds = decimal.Parse(match.Groups[3].Value, System.Globalization.CultureInfo.InvariantCulture);
        return (Part(1) * 3_600_000) + (Part(2) * 60_000) + (long)(seconds * 1000);
    }
}

/// <summary>What DeepInfra's seed (003) says it takes, checked before anything is sent (issue 20, item 5).</summary>
public sealed class DeepInfraRulesTests
{
    // As the shipped gateway.json: tools passed (DeepInfra's seed does not list them).
    private static readonly DeploymentTarget Target = new()
    {
        PublicModel = "m", UpstreamModel = "meta-llama/Meta-Llama-3.1-8B-Instruct", PassParameters = new HashSet<string> { "tools" },
    };

    private static RequestError? Write(string json)
    {
        Assert.True(ChatRequestReader.TryRead(Encoding.UTF8.GetBytes(json), out var request, out var readError), readError?.Message);
        return new Gateway.Translators.Providers.DeepInfra.DeepInfraProvider().WriteRequest(request!, Target, false, new System.Buffers.ArrayBufferWriter<byte>());
    }

    [Theory]
    [InlineData("\"none\"", null)]
    [InlineData("\"auto\"", null)]
    [InlineData("\"required\"", "tool_choice")]
    [InlineData("""{"type":"function","function":{"name":"f"}}""", "tool_choice")]
    public void ToolChoice_IsNoneOrAutoOnly(string choice, string? refused) =>
        Assert.Equal(refused, Write($$$"""{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{{{choice}}},"messages":[{"role":"user","content":"x"}]}""")?.Param);

    [Theory]
    [InlineData("top_k", "0", null)]
    [InlineData("top_k", "999", null)]
    [InlineData("top_k", "1000", "top_k")]
    [InlineData("top_k", "2.5", "top_k")]
    [InlineData("min_p", "1", null)]
    [InlineData("min_p", "1.5", "min_p")]
    [InlineData("repetition_penalty", "0.01", null)]
    [InlineData("repetition_penalty", "0", "repetition_penalty")]
    [InlineData("repetition_penalty", "\"high\"", "repetition_penalty")]
    public void DocumentedExtras_AreHeldToTheSeedsRanges(string name, string value, string? refused) =>
        Assert.Equal(refused, Write($$"""{"model":"m","{{name}}":{{value}},"messages":[{"role":"user","content":"x"}]}""")?.Param);

    [Theory]
    [InlineData("""[{"role":"system","content":"s"},{"role":"user","content":"x"}]""", null)]
    [InlineData("""[{"role":"user","content":"x"},{"role":"assistant","content":"y"},{"role":"user","content":"z"},{"role":"system","content":"late"}]""", null)]
    [InlineData("""[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]""", "messages")]
    public void TheConversation_EndsWithTheUser(string messages, string? refused) =>
        Assert.Equal(refused, Write($$"""{"model":"m","messages":{{messages}}}""")?.Param);
}

/// <summary>Hive V2 task objects: a top-level error ends the task at once, with what it was charged.</summary>
public sealed class HiveV2TaskTests
{
    [Theory]
    [InlineData("""{"task_id":"t1","state":"processing","charge":0.0001,"error":"MODEL_UNAVAILABLE"}""", "MODEL_UNAVAILABLE")]
    [InlineData("""{"task_id":"t1","error":{"message":"bad input"},"status":[]}""", "bad input")]
    public void TopLevelError_IsAFailure(string task, string message)
    {
        var state = new Gateway.Translators.Providers.HiveV2.HiveV2Provider().ReadTask(Encoding.UTF8.GetBytes(task));
        Assert.Equal(TaskProgress.Failed, state.Status);
        Assert.Contains(message, state.FailureMessage);
    }

    [Theory]
    [InlineData("""{"task_id":"t1","state":"processing","error":null,"status":[]}""")]
    [InlineData("""{"task_id":"t1","state":"processing","error":"","status":[]}""")]
    public void EmptyError_IsStillPending(string task) =>
        Assert.Equal(TaskProgress.Pending, new Gateway.Translators.Providers.HiveV2.HiveV2Provider().ReadTask(Encoding.UTF8.GetBytes(task)).Status);
}

/// <summary>The parameter policy below the top level: message fields, content part fields, part types (issue 20, item 4).</summary>
public sealed class NestedFieldPolicyTests
{
    private static (RequestError? Error, JsonElement Sent) Write(IChatProvider provider, string json, DeploymentTarget? target = null)
    {
        Assert.True(ChatRequestReader.TryRead(Encoding.UTF8.GetBytes(json), out var request, out var readError), readError?.Message);
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        var error = provider.WriteRequest(request!, target ?? Target(), false, body);
        return (error, error is null ? JsonDocument.Parse(body.WrittenMemory).RootElement.Clone() : default);
    }

    private static DeploymentTarget Target(string[]? pass = null, string[]? drop = null) => new()
    {
        PublicModel = "m", UpstreamModel = "up", PassParameters = (pass ?? []).ToHashSet(), DropParameters = (drop ?? []).ToHashSet(),
    };

    private static readonly IChatProvider DeepInfra = new Gateway.Translators.Providers.DeepInfra.DeepInfraProvider();
    private static readonly IChatProvider Hive = new Gateway.Translators.Providers.HiveV3.HiveV3Provider();

    [Fact]
    public void AMessagesUnknownField_IsRefusedPassedOrDropped_AsTheDeploymentSays()
    {
        const string json = """{"model":"m","messages":[{"role":"user","content":"x","cache_hint":"long"}]}""";
        Assert.Equal("messages[0].cache_hint", Write(DeepInfra, json).Error?.Param);
        Assert.Equal("long", Write(DeepInfra, json, Target(pass: ["cache_hint"])).Sent.GetProperty("messages")[0].GetProperty("cache_hint").GetString());
        Assert.False(Write(DeepInfra, json, Target(drop: ["cache_hint"])).Sent.GetProperty("messages")[0].TryGetProperty("cache_hint", out _));
        // A null says nothing (SDKs echo "refusal": null back in assistant messages): neither refused nor sent.
        var echoed = Write(DeepInfra, """{"model":"m","messages":[{"role":"assistant","content":"a","refusal":null},{"role":"user","content":"x"}]}""");
        Assert.Null(echoed.Error);
        Assert.False(echoed.Sent.GetProperty("messages")[0].TryGetProperty("refusal", out _));
    }

    [Fact]
    public void AContentPartsUnknownField_IsRefused_AtDeepInfraAndHive()
    {
        const string json = """{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}]}]}""";
        Assert.Equal("messages[0].content[0].cache_control", Write(DeepInfra, json).Error?.Param);
        Assert.Equal("messages[0].content[0].cache_control", Write(Hive, json).Error?.Param);
        var dropped = Write(Hive, json, Target(drop: ["cache_control"]));
        Assert.Null(dropped.Error);
        Assert.Equal("""[{"type":"text","text":"x"}]""", dropped.Sent.GetProperty("messages")[0].GetProperty("content").GetRawText());
    }

    [Fact]
    public void AnImagePart_ReachesDeepInfrasLlama_OnlyWhereTheDeploymentPassesIt()
    {
        const string json = """{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}""";
        Assert.Equal("messages[0].content[1].type", Write(DeepInfra, json).Error?.Param);
        var passed = Write(DeepInfra, json, Target(pass: ["image_url"]));
        Assert.Null(passed.Error);
        Assert.Equal("https://example.com/a.png", passed.Sent.GetProperty("messages")[0].GetProperty("content")[1].GetProperty("image_url").GetProperty("url").GetString());
    }
}
