using System.Text.Json;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Endpoints;

/// <summary>Chat completions through the gateway with the official OpenAI SDK, for every provider.</summary>
public sealed class ChatCompletionTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    public static TheoryData<string> Models => ["hive-llama", "deepinfra-llama", "segmind-llama"];

    [Theory]
    [MemberData(nameof(Models))]
    public async Task NonStreaming_EachProvider_ReturnsOpenAiCompletion(string model)
    {
        ChatCompletion completion = await f.Gateway.Chat(model).CompleteChatAsync([new UserChatMessage("Hello there friend")]);

        Assert.Equal(model, completion.Model);
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Equal("echo: Hello there friend", Assert.Single(completion.Content).Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.NotNull(completion.Usage);
        Assert.True(completion.Usage.InputTokenCount > 0);
        Assert.True(completion.Usage.OutputTokenCount > 0);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
    }

    [Theory]
    [InlineData("hive-llama")]
    [InlineData("deepinfra-llama")]
    public async Task NonStreaming_ProviderReportsUsage_PassesItOnExactly(string model)
    {
        ChatCompletion completion = await f.Gateway.Chat(model).CompleteChatAsync([new UserChatMessage("one two three four")]);

        // The simulator counts words: 4 prompt words, and "echo:" plus the 4 words back.
        Assert.Equal(4, completion.Usage.InputTokenCount);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task NonStreaming_ProviderWithoutUsage_EstimatesAndSaysSo()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"segmind-llama","messages":[{"role":"user","content":"one two three four"}]}""");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("estimated", response.Headers.GetValues("x-gateway-usage").Single());
        var usage = JsonDocument.Parse(body).RootElement.GetProperty("usage");
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() > 4);
        Assert.True(usage.GetProperty("completion_tokens").GetInt32() >= 5);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task Streaming_EachProvider_DeliversTextUsageAndFinish(string model)
    {
        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var update in f.Gateway.Chat(model).CompleteChatStreamingAsync([new UserChatMessage("Hello there friend")]))
        {
            updates.Add(update);
        }

        Assert.Equal("echo: Hello there friend", string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.Single(updates.Select(u => u.CompletionId).Distinct());
        Assert.All(updates, u => Assert.Equal(model, u.Model));
        Assert.Equal(ChatMessageRole.Assistant, updates[0].Role);
        Assert.Equal(ChatFinishReason.Stop, updates.Single(u => u.FinishReason is not null).FinishReason);
        // The .NET SDK always asks for usage in streams; it arrives last.
        var usage = updates[^1].Usage;
        Assert.NotNull(usage);
        Assert.Equal(usage.InputTokenCount + usage.OutputTokenCount, usage.TotalTokenCount);
        Assert.True(usage.OutputTokenCount > 0);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task Streaming_WithoutIncludeUsage_SendsNoUsageChunk(string model)
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","stream":true,"messages":[{"role":"user","content":"a b c"}]}""");

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        var data = Sse.DataLines(body);
        Assert.Equal("[DONE]", data[^1]);
        var chunks = Sse.Chunks(body);
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out _)));
        Assert.All(chunks, c => Assert.NotEqual(0, c.GetProperty("choices").GetArrayLength()));
        AssertStreamShape(chunks, model);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task Streaming_WithIncludeUsage_SendsUsageChunkLast(string model)
    {
        var (_, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b c"}]}""");

        var chunks = Sse.Chunks(body);
        AssertStreamShape(chunks, model);
        var last = chunks[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        var usage = last.GetProperty("usage");
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32(),
            usage.GetProperty("total_tokens").GetInt32());
        Assert.All(chunks[..^1], c => Assert.Equal(JsonValueKind.Null, c.GetProperty("usage").ValueKind));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public async Task MultiTurn_WithSystem_ReachesProviderInOrder(string model)
    {
        var requestId = Sse.NewRequestId();
        var (response, _) = await Sse.PostAsync(f.Gateway.Http, $$"""
            {"model":"{{model}}","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"user","content":"First question"},
              {"role":"assistant","content":"First answer"},
              {"role":"user","content":[{"type":"text","text":"Second "},{"type":"text","text":"question"}]}]}
            """, requestId);
        Assert.Equal(200, (int)response.StatusCode);

        var sent = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement;
        var messages = sent.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["system", "user", "assistant", "user"], messages.Select(m => m.GetProperty("role").GetString()));
        Assert.Equal("Be brief.", messages[0].GetProperty("content").GetString());
        Assert.Equal("First answer", messages[2].GetProperty("content").GetString());
        var last = messages[3].GetProperty("content");
        if (model == "segmind-llama")
        {
            // Segmind takes plain strings only: text parts are joined.
            // Text parts are kept apart (one per line) where the provider takes one string.
            Assert.Equal("Second \nquestion", last.GetString());
        }
        else
        {
            Assert.Equal(2, last.GetArrayLength());
        }
    }

    [Fact]
    public async Task MultiTurn_WithSdkMessages_AnswersTheLastUserTurn()
    {
        ChatCompletion completion = await f.Gateway.Chat("deepinfra-llama").CompleteChatAsync(
        [
            new SystemChatMessage("You are terse."),
            new UserChatMessage("Hi"),
            new AssistantChatMessage("Hello"),
            new UserChatMessage("How are you"),
        ]);

        Assert.Equal("echo: How are you", completion.Content[0].Text);
    }

    [Fact]
    public async Task DeveloperRole_IsSentAsSystem()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive-llama","messages":[{"role":"developer","content":"Rules"},{"role":"user","content":"x"}]}""", requestId);

        var sent = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement;
        Assert.Equal("system", sent.GetProperty("messages")[0].GetProperty("role").GetString());
    }

    [Fact]
    public async Task StreamingOnlyDeployment_NonStreamingClient_GetsCollectedAnswer()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive-stream-only","messages":[{"role":"user","content":"collect me please"}]}""", requestId);

        Assert.Equal(200, (int)response.StatusCode);
        var root = JsonDocument.Parse(body).RootElement;
        Assert.Equal("chat.completion", root.GetProperty("object").GetString());
        Assert.Equal("echo: collect me please", root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", root.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(3, root.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        var sent = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement;
        Assert.True(sent.GetProperty("stream").GetBoolean());
    }

    [Fact]
    public async Task UpstreamAnswersSseToJsonRequest_IsCollected()
    {
        // Hive V3 may stream even when not asked; the gateway reads the content type, not its assumptions.
        ChatCompletion completion = await f.Gateway.Chat("hive-llama").CompleteChatAsync([new UserChatMessage("surprise [sim sse_for_json=1]")]);

        Assert.Equal("echo: surprise", completion.Content[0].Text);
    }

    [Theory]
    [InlineData("eos", "stop")]
    [InlineData("max_tokens", "length")]
    [InlineData("something_new", "something_new")]
    public async Task FinishReason_IsMappedOrPassedThrough(string upstream, string expected)
    {
        var (_, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"deepinfra-llama","messages":[{"role":"user","content":"x [sim finish={{upstream}}]"}]}""");
        Assert.Equal(expected, JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var (_, stream) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"hive-llama","stream":true,"messages":[{"role":"user","content":"x [sim finish={{upstream}}]"}]}""");
        var finish = Sse.Chunks(stream).Select(c => c.GetProperty("choices")[0].GetProperty("finish_reason"))
            .Single(r => r.ValueKind == JsonValueKind.String);
        Assert.Equal(expected, finish.GetString());
    }

    [Fact]
    public async Task MaxTokens_Reached_FinishReasonLength()
    {
        ChatCompletion completion = await f.Gateway.Chat("deepinfra-llama").CompleteChatAsync(
            [new UserChatMessage("x [sim words=50]")], new ChatCompletionOptions { MaxOutputTokenCount = 5 });

        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task Unicode_PassesThroughUnescaped()
    {
        var (_, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","messages":[{"role":"user","content":"héllo wörld 日本 \"quoted\" <tag> 🚀"}]}""");

        // Non-ASCII and HTML-sensitive characters stay as they are; only characters outside the BMP
        // are escaped (as surrogate pairs), which every JSON reader turns back into the same text.
        Assert.Contains("héllo wörld 日本 \\\"quoted\\\" <tag>", body);
        var content = JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString();
        Assert.Equal("echo: héllo wörld 日本 \"quoted\" <tag> 🚀", content);
    }

    [Fact]
    public async Task EveryAnswer_CarriesRequestId()
    {
        var (ok, _) = await Sse.PostAsync(f.Gateway.Http, """{"model":"hive-llama","messages":[{"role":"user","content":"x"}]}""");
        var (bad, _) = await Sse.PostAsync(f.Gateway.Http, "{not json");
        var (chosen, _) = await Sse.PostAsync(f.Gateway.Http, """{"model":"hive-llama","messages":[{"role":"user","content":"x"}]}""", "my-trace-123");

        Assert.StartsWith("req_", ok.Headers.GetValues("x-request-id").Single());
        Assert.StartsWith("req_", bad.Headers.GetValues("x-request-id").Single());
        Assert.Equal("my-trace-123", chosen.Headers.GetValues("x-request-id").Single());
    }

    private static void AssertStreamShape(List<JsonElement> chunks, string model)
    {
        Assert.NotEmpty(chunks);
        var id = chunks[0].GetProperty("id").GetString();
        var created = chunks[0].GetProperty("created").GetInt64();
        Assert.All(chunks, c =>
        {
            Assert.Equal(id, c.GetProperty("id").GetString());
            Assert.Equal(created, c.GetProperty("created").GetInt64());
            Assert.Equal(model, c.GetProperty("model").GetString());
            Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString());
        });
        var withChoices = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).ToList();
        Assert.Equal("assistant", withChoices[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        Assert.All(withChoices.Skip(1), c => Assert.False(c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("role", out _)));
    }
}

/// <summary>DeepInfra streaming several choices, each ending with its end-of-sequence marker (issue 20, items 3 and 8).</summary>
public sealed class SeveralChoicesTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task TwoStreamedChoicesWithLogprobs_NeitherLeaksTheMarker()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","stream":true,"n":2,"logprobs":true,"messages":[{"role":"user","content":"two ways [sim words=4]"}]}""");

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        var choices = Sse.Chunks(body).SelectMany(c => c.GetProperty("choices").EnumerateArray()).ToList();
        Assert.DoesNotContain("</s>", body);
        var texts = choices.GroupBy(c => c.GetProperty("index").GetInt32())
            .ToDictionary(g => g.Key, g => string.Concat(g.Select(c => c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString() : "")));
        Assert.Equal(2, texts.Count);
        Assert.Equal(texts[0], texts[1]);
        Assert.Equal(4, texts[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        // Both choices finished, and the logprobs came through, without the marker's token.
        Assert.Equal(2, choices.Count(c => c.TryGetProperty("finish_reason", out var r) && r.ValueKind == System.Text.Json.JsonValueKind.String));
        Assert.Contains(choices, c => c.TryGetProperty("logprobs", out var l) && l.ValueKind == System.Text.Json.JsonValueKind.Object);
    }
}

/// <summary>DeepInfra answering with a tool call, whole and streamed, through to the official SDK (issue 20, item 8).</summary>
public sealed class ToolCallTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    private static readonly OpenAI.Chat.ChatTool Weather = OpenAI.Chat.ChatTool.CreateFunctionTool("get_weather", "The weather in a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""));

    [Fact]
    public async Task AToolCall_ReachesTheSdk_Whole()
    {
        var options = new OpenAI.Chat.ChatCompletionOptions { Tools = { Weather } };
        var answer = (await f.Gateway.Chat("deepinfra-llama").CompleteChatAsync(
            [new OpenAI.Chat.UserChatMessage("weather in Paris? [sim tool_call=get_weather]")], options)).Value;

        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, answer.FinishReason);
        var call = Assert.Single(answer.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.Equal("""{"city":"Paris"}""", call.FunctionArguments.ToString());
        Assert.False(string.IsNullOrEmpty(call.Id));
    }

    [Fact]
    public async Task AToolCall_ReachesTheSdk_Streamed()
    {
        var options = new OpenAI.Chat.ChatCompletionOptions { Tools = { Weather } };
        string? name = null, id = null;
        var arguments = new System.Text.StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        await foreach (var update in f.Gateway.Chat("deepinfra-llama").CompleteChatStreamingAsync(
            [new OpenAI.Chat.UserChatMessage("weather in Paris? [sim tool_call=get_weather]")], options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                name ??= part.FunctionName;
                id ??= part.ToolCallId;
                arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal("get_weather", name);
        Assert.False(string.IsNullOrEmpty(id));
        Assert.Equal("""{"city":"Paris"}""", arguments.ToString());
        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, finish);
    }
}
