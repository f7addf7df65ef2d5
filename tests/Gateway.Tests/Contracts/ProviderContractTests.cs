using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Contracts;

/// <summary>
/// Each provider's documented request, asserted field by field against what the gateway sends, and
/// each documented answer served verbatim and read back through the gateway with the OpenAI SDK.
/// </summary>
public sealed class ProviderContractTests(ContractHarness h) : IClassFixture<ContractHarness>, IAsyncLifetime
{
    public Task InitializeAsync()
    {
        h.Provider.Reset();
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private void Answer(string path, string body, string contentType = "application/json", params (string Name, string Value)[] headers)
    {
        var response = Response.Create().WithStatusCode(200).WithHeader("Content-Type", contentType).WithBody(body);
        foreach (var (name, value) in headers)
        {
            response = response.WithHeader(name, value);
        }

        h.Provider.Given(Request.Create().WithPath(path).UsingPost()).RespondWith(response);
    }

    [Fact]
    public async Task HiveV3_SeedRequest_IsExactlyWhatTheGatewaySends()
    {
        // Seed 001 shows no V3 answer ("visit their respective API playgrounds"): an OpenAI-shaped one (PROVIDERS.md §2, [C]).
        Answer("/api/v3/chat/completions", """
            {"id":"hive-1","object":"chat.completion","created":1730000000,"model":"meta-llama/llama-3.2-1b-instruct",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Learning from rewards."},"finish_reason":"stop"}],
             "usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}
            """);

        var completion = (await h.Gateway.Chat(ContractHarness.HiveV3Model).CompleteChatAsync(
            [new UserChatMessage("Explain the concept of reinforcement learning.")],
            new ChatCompletionOptions { MaxOutputTokenCount = 1000 })).Value;

        var sent = h.Received("/api/v3/chat/completions");
        ContractHarness.SameJson(ContractHarness.SeedJson("hive-v3.request.json"), ContractHarness.Body(sent));
        Assert.Equal("Bearer sim-hive-key", ContractHarness.Header(sent, "authorization"));
        Assert.Equal("Learning from rewards.", completion.Content[0].Text);
        Assert.Equal(ContractHarness.HiveV3Model, completion.Model);
    }

    [Fact]
    public async Task DeepInfra_FirstSeedExchange_RequestAndAnswer()
    {
        Answer("/v1/openai/chat/completions", ContractHarness.Seed("deepinfra.response-1.json"));

        var completion = (await h.Gateway.Chat(ContractHarness.DeepInfraModel).CompleteChatAsync([new UserChatMessage("Hello!")])).Value;

        var sent = h.Received("/v1/openai/chat/completions");
        ContractHarness.SameJson(ContractHarness.SeedJson("deepinfra.request-1.json"), ContractHarness.Body(sent));
        Assert.Equal("Bearer sim-deepinfra-key", ContractHarness.Header(sent, "authorization"));
        Assert.Equal(" Hello! It's nice to meet you. Is there something I can help you with or would you like to chat for a bit?", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal((15, 16, 31), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount));
        Assert.StartsWith("chatcmpl-", completion.Id);
        Assert.NotEqual("chatcmpl-guMTxWgpFf", completion.Id);
    }

    [Fact]
    public async Task DeepInfra_ChefConversation_RequestAndAnswer()
    {
        Answer("/v1/openai/chat/completions", ContractHarness.Seed("deepinfra.response-2.json"));
        var seed = ContractHarness.SeedJson("deepinfra.request-2.json")["messages"]!.AsArray();
        ChatMessage[] conversation =
        [
            new SystemChatMessage(seed[0]!["content"]!.GetValue<string>()),
            new UserChatMessage(seed[1]!["content"]!.GetValue<string>()),
            new AssistantChatMessage(seed[2]!["content"]!.GetValue<string>()),
            new UserChatMessage(seed[3]!["content"]!.GetValue<string>()),
        ];

        var completion = (await h.Gateway.Chat(ContractHarness.DeepInfraModel).CompleteChatAsync(conversation)).Value;

        ContractHarness.SameJson(ContractHarness.SeedJson("deepinfra.request-2.json"), ContractHarness.Body(h.Received("/v1/openai/chat/completions")));
        Assert.StartsWith("Sous le Sable, my friend!", completion.Content[0].Text);
        Assert.Equal((149, 338), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount));
    }

    [Fact]
    public async Task DeepInfra_SeedStream_EndOfSequenceMarkerNeverReachesTheClient()
    {
        Answer("/v1/openai/chat/completions", ContractHarness.Seed("deepinfra.stream.sse"), "text/event-stream");

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in h.Gateway.Chat(ContractHarness.DeepInfraModel).CompleteChatStreamingAsync([new UserChatMessage("Hello!")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        // Exactly the seed's fields: stream_options is not in DeepInfra's document, so a deployment must pass it to have it sent.
        ContractHarness.SameJson(ContractHarness.SeedJson("deepinfra.request-stream.json"), ContractHarness.Body(h.Received("/v1/openai/chat/completions")));
        Assert.Equal("  Hi!", text.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
        // The sample carries no usage: the gateway counts (cl100k) and labels it; "Hello!" framed is 9, " ", " Hi", "!" are 3.
        Assert.NotNull(usage);
        Assert.Equal((9, 3), (usage.InputTokenCount, usage.OutputTokenCount));
    }

    [Fact]
    public async Task Segmind_SeedRequest_IsOnlyMessages_AtTheSlug()
    {
        // Seed 004 says only "application/json" about the answer: an OpenAI-like one (PROVIDERS.md §5, [C]), with the
        // x-remaining-credits header the seed names.
        Answer("/v1/llama-v3p1-70b-instruct", """
            {"id":"seg-1","object":"chat.completion","created":1730000000,"model":"llama-v3p1-70b-instruct",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Why did the dog sit in the shade? He was a hot dog."},"finish_reason":"stop"}]}
            """, headers: ("x-remaining-credits", "98.5"));
        var seed = ContractHarness.SeedJson("segmind.request.json")["messages"]!.AsArray();

        using var response = await h.Gateway.Http.PostAsJsonAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = ContractHarness.SegmindModel,
            ["messages"] = seed.DeepClone(),
        });

        var sent = h.Received("/v1/llama-v3p1-70b-instruct");
        ContractHarness.SameJson(ContractHarness.SeedJson("segmind.request.json"), ContractHarness.Body(sent));
        Assert.Equal("sim-segmind-key", ContractHarness.Header(sent, "x-api-key"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("Why did the dog sit in the shade? He was a hot dog.", answer.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.True(answer.GetProperty("usage").GetProperty("estimated").GetBoolean());
        Assert.Equal("estimated", response.Headers.GetValues("x-gateway-usage").Single());
    }

    [Fact]
    public async Task HiveV2_SeedInputAndSeedResult_ByCallback()
    {
        // Seed 002 says nothing of the submit answer but "a text response": the task id at once (PROVIDERS.md §3, [C]).
        Answer("/api/v2/task/async", """{"task_id":"9d8473a0-82a6-11ef-bc2e-97ff9ad6e279"}""");
        var chat = h.Gateway.Chat(ContractHarness.HiveV2Model);

        var pending = chat.CompleteChatAsync(SeedConversation(), SeedOptions());
        await Eventually.TrueAsync(() => Task.FromResult(h.Provider.LogEntries.Any(e => e.RequestMessage.Path == "/api/v2/task/async")));
        var submitted = h.Received("/api/v2/task/async");
        var body = ContractHarness.Body(submitted).AsObject();
        var callbackUrl = body["callback_url"]!.GetValue<string>();
        body.Remove("callback_url");
        ContractHarness.SameJson(ContractHarness.SeedJson("hive-v2.input.json"), body);
        Assert.Equal("Token sim-hive-v2-key", ContractHarness.Header(submitted, "authorization"));
        Assert.StartsWith(h.Gateway.BaseUrl + "callbacks/tasks/", callbackUrl);

        // Hive delivers the finished task: seed 002's sample response, byte for byte.
        using var http = new HttpClient();
        using var delivered = await http.PostAsync(callbackUrl, new StringContent(ContractHarness.Seed("hive-v2.result.json"), System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, delivered.StatusCode);

        AssertSeedAnswer((await pending).Value);
    }

    [Fact]
    public async Task HiveV2_CallbackAboutAnotherTaskOrWithAbsurdFigures_IsRefused_TheGenuineOneTaken()
    {
        Answer("/api/v2/task/async", """{"task_id":"9d8473a0-82a6-11ef-bc2e-97ff9ad6e279"}""");
        var pending = h.Gateway.Chat(ContractHarness.HiveV2Model).CompleteChatAsync(SeedConversation(), SeedOptions());
        await Eventually.TrueAsync(() => Task.FromResult(h.Provider.LogEntries.Any(e => e.RequestMessage.Path == "/api/v2/task/async")));
        var callbackUrl = ContractHarness.Body(h.Received("/api/v2/task/async"))["callback_url"]!.GetValue<string>();
        var seed = ContractHarness.Seed("hive-v2.result.json");
        using var http = new HttpClient();

        // A valid token does not make any task body acceptable: it names one task, and the figures must be possible.
        var otherTask = seed.Replace("\"task_id\": \"9d8473a0-82a6-11ef-bc2e-97ff9ad6e279\"", "\"task_id\": \"someone-elses-task\"", StringComparison.Ordinal);
        var negativeCharge = seed.Replace("\"charge\": 0.000065,\n    \"state\"", "\"charge\": -5,\n    \"state\"", StringComparison.Ordinal);
        var absurdTokens = seed.Replace("\"input_tokens\": 47", "\"input_tokens\": -47", StringComparison.Ordinal);
        Assert.NotEqual(seed, otherTask);
        Assert.NotEqual(seed, negativeCharge);
        Assert.NotEqual(seed, absurdTokens);
        await Eventually.TrueAsync(async () =>
        {
            // The task id is recorded just after the submit answer; until then the waiter alone checks it.
            using var refused = await http.PostAsync(callbackUrl, new StringContent(otherTask, System.Text.Encoding.UTF8, "application/json"));
            return refused.StatusCode == HttpStatusCode.BadRequest;
        });
        foreach (var forged in new[] { negativeCharge, absurdTokens })
        {
            using var refused = await http.PostAsync(callbackUrl, new StringContent(forged, System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("invalid_task", await refused.Content.ReadAsStringAsync());
        }

        using var genuine = await http.PostAsync(callbackUrl, new StringContent(seed, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, genuine.StatusCode);
        AssertSeedAnswer((await pending).Value);
    }

    [Fact]
    public async Task HiveV2_SeedResult_ByPolling()
    {
        Answer("/api/v2/task/async", """{"task_id":"9d8473a0-82a6-11ef-bc2e-97ff9ad6e279"}""");
        h.Provider.Given(Request.Create().WithPath("/api/v2/task/9d8473a0-82a6-11ef-bc2e-97ff9ad6e279").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(ContractHarness.Seed("hive-v2.result.json")));

        var completion = (await h.Gateway.Chat(ContractHarness.HiveV2PolledModel).CompleteChatAsync(
            [new UserChatMessage("What do you think about a cat playing with a yarn ball")])).Value;

        Assert.Equal("Token sim-hive-v2-key", ContractHarness.Header(h.Received("/api/v2/task/9d8473a0-82a6-11ef-bc2e-97ff9ad6e279"), "authorization"));
        AssertSeedAnswer(completion);
    }

    private static void AssertSeedAnswer(ChatCompletion completion)
    {
        Assert.StartsWith("Wazzzzzzzzup, I think it's a pretty purr-fect idea!", completion.Content[0].Text);
        Assert.EndsWith("a fun little game of yarn-based mischief!", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal((47, 83, 130), (completion.Usage.InputTokenCount, completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount));
    }

    private static List<ChatMessage> SeedConversation()
    {
        var input = ContractHarness.SeedJson("hive-v2.input.json");
        var options = input["options"]!;
        var conversation = new List<ChatMessage> { new SystemChatMessage(options["system_prompt"]!.GetValue<string>()) };
        foreach (var turn in options["prompt_history"]!.AsArray())
        {
            var content = turn!["content"]!.GetValue<string>();
            conversation.Add(turn["role"]!.GetValue<string>() == "Bob" ? new UserChatMessage(content) : new AssistantChatMessage(content));
        }

        conversation.Add(new UserChatMessage(input["text_data"]!.GetValue<string>()));
        return conversation;
    }

    private static ChatCompletionOptions SeedOptions() => new() { MaxOutputTokenCount = 125, Temperature = 0.8f, TopP = 0.95f };
}
