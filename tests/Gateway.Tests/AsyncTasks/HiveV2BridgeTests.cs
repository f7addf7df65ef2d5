using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gateway.AsyncTasks;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;
using ProviderSimulator.Providers;

namespace Gateway.Tests.AsyncTasks;

/// <summary>A simulator and a gateway set up for Hive V2 callbacks, with or without Redis.</summary>
public abstract class HiveV2Fixture : IAsyncLifetime
{
    protected abstract bool UseRedis { get; }

    public SimulatorHost Simulator { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public RedisServer? Redis { get; private set; }

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Redis = UseRedis ? await RedisServer.StartAsync() : null;
        var port = FreePort.Get();
        var config = TestConfig.Standard(Simulator.BaseUrl).WithHiveV2(Simulator.BaseUrl, $"http://127.0.0.1:{port}", Redis?.Configuration);
        Gateway = await GatewayHost.StartAsync(config, port);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Simulator.DisposeAsync();
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
    }
}

public sealed class InMemoryHiveV2Fixture : HiveV2Fixture
{
    protected override bool UseRedis => false;
}

public sealed class RedisHiveV2Fixture : HiveV2Fixture
{
    protected override bool UseRedis => true;
}

public sealed class HiveV2BridgeInMemoryTests(InMemoryHiveV2Fixture f) : HiveV2BridgeTests(f), IClassFixture<InMemoryHiveV2Fixture>;

public sealed class HiveV2BridgeRedisTests(RedisHiveV2Fixture f) : HiveV2BridgeTests(f), IClassFixture<RedisHiveV2Fixture>
{
    [Fact]
    public async Task Callback_IsStoredInRedisOnlyOnce()
    {
        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"twice please [sim callback_duplicates=2]"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var keys = await f.Redis!.CliAsync("--scan", "--pattern", "gw:{task:*}:result");
        Assert.NotEmpty(keys.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}

/// <summary>Hive V2's callback API served as an ordinary chat completion (issue 3).</summary>
public abstract class HiveV2BridgeTests(HiveV2Fixture f)
{
    private async Task<List<HiveV2Provider.CallbackAttempt>> CallbacksAsync() =>
        (await f.Simulator.Control.GetFromJsonAsync<List<HiveV2Provider.CallbackAttempt>>("/_sim/callbacks"))!;

    [Fact]
    public async Task NonStreaming_CallbackArrives_AnsweredAsCompletion()
    {
        ChatCompletion completion = await f.Gateway.Chat("hive2-llama").CompleteChatAsync([new UserChatMessage("what a nice day")]);

        Assert.Equal("echo: what a nice day", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal("hive2-llama", completion.Model);
        Assert.Equal(4, completion.Usage.InputTokenCount);
        Assert.Equal(5, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task Streaming_CallbackArrives_AnsweredAsStream()
    {
        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var u in f.Gateway.Chat("hive2-llama").CompleteChatStreamingAsync([new UserChatMessage("stream it")]))
        {
            updates.Add(u);
        }

        Assert.Equal("echo: stream it", string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.Equal(ChatFinishReason.Stop, updates.Single(u => u.FinishReason is not null).FinishReason);
        Assert.Equal(2, updates[^1].Usage!.InputTokenCount);
    }

    [Fact]
    public async Task Streaming_SlowTask_SendsKeepAlivesWhileWaiting()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"slow [sim callback_delay_ms=1500]"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith(": keep-alive", events[0]);
        Assert.True(events.TakeWhile(e => e.StartsWith(':')).Count() >= 2);
        Assert.Equal("data: [DONE]", events[^1]);
        var usage = JsonDocument.Parse(events[^2]["data: ".Length..]).RootElement.GetProperty("usage");
        // The simulator counts the words of text_data, the knob included.
        Assert.Equal(3, usage.GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Conversation_MapsToSystemPromptHistoryAndTextData()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http, """
            {"model":"hive2-llama","max_tokens":9000,"temperature":0.5,"messages":[
              {"role":"system","content":"Be formal."},
              {"role":"user","content":"first question"},
              {"role":"assistant","content":"first answer"},
              {"role":"user","content":"second question"}]}
            """, requestId);

        var sent = JsonDocument.Parse((await f.Simulator.RequestsAsync(requestId)).First(r => r.Method == "POST").Body).RootElement;
        Assert.Equal("second question", sent.GetProperty("text_data").GetString());
        Assert.Contains("/callbacks/tasks/", sent.GetProperty("callback_url").GetString());
        var options = sent.GetProperty("options");
        Assert.Equal("Be formal.", options.GetProperty("system_prompt").GetString());
        Assert.Equal(4096, options.GetProperty("max_tokens").GetInt32());
        Assert.Equal(0.5, options.GetProperty("temperature").GetDouble());
        var history = options.GetProperty("prompt_history").EnumerateArray().ToList();
        Assert.Equal(["first question", "first answer"], history.Select(h => h.GetProperty("content").GetString()));
        Assert.Equal(["user", "model"], history.Select(h => h.GetProperty("role").GetString()));
        Assert.False(options.TryGetProperty("roles", out _));
    }

    [Fact]
    public async Task CustomRoles_AreDeclaredAndUsed()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http, """
            {"model":"hive2-custom-roles","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}
            """, requestId);

        var options = JsonDocument.Parse((await f.Simulator.RequestsAsync(requestId)).First(r => r.Method == "POST").Body).RootElement.GetProperty("options");
        Assert.Equal("Bob", options.GetProperty("roles").GetProperty("user").GetString());
        Assert.Equal("HPT", options.GetProperty("roles").GetProperty("model").GetString());
        Assert.Equal(["Bob", "HPT"], options.GetProperty("prompt_history").EnumerateArray().Select(h => h.GetProperty("role").GetString()));
    }

    [Fact]
    public async Task ConversationEndingWithAssistant_Rejected()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("messages[1].role", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task CallbackLost_AnsweredByPolling()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-quick","messages":[{"role":"user","content":"poll me [sim callback=lost]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("echo: poll me", body);
        Assert.Contains(await f.Simulator.RequestsAsync(requestId), r => r.Method == "GET" && r.Path.StartsWith("/api/v2/task/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NoAnswerAtAll_Returns504()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-quick","messages":[{"role":"user","content":"never [sim never_finish=1]"}]}""");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("upstream_timeout", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task NoAnswerAtAll_Streaming_EndsWithTimeoutEvent()
    {
        var (_, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-quick","stream":true,"messages":[{"role":"user","content":"never [sim never_finish=1]"}]}""");

        var last = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[^1];
        Assert.StartsWith("data: {\"error\"", last);
        Assert.Contains("upstream_timeout", last);
        Assert.DoesNotContain("[DONE]", body);
    }

    [Fact]
    public async Task ClientGoesAway_WaitingAndPollingStop()
    {
        var requestId = Sse.NewRequestId();
        using (var stream = await OpenStream.StartAsync(f.Gateway.BaseUrl, TestConfig.Key,
            """{"model":"hive2-quick","stream":true,"messages":[{"role":"user","content":"x [sim never_finish=1]"}]}""", requestId))
        {
            Assert.StartsWith(": keep-alive", await stream.ReadLineAsync());
            // Polling has begun (the callback wait is 0.3 s); now the client leaves.
            await Infrastructure.Eventually.TrueAsync(async () => (await f.Simulator.RequestsAsync(requestId)).Any(r => r.Method == "GET"));
        }

        await Task.Delay(500);
        var pollsAfterLeaving = (await f.Simulator.RequestsAsync(requestId)).Count(r => r.Method == "GET");
        await Task.Delay(1000);
        Assert.Equal(pollsAfterLeaving, (await f.Simulator.RequestsAsync(requestId)).Count(r => r.Method == "GET"));
    }

    [Fact]
    public async Task TaskFails_Returns502WithTheGatewaysOwnMessage()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"x [sim task_fail=1]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("upstream_error", body);
        Assert.DoesNotContain("MODEL_FAILURE", body);
    }

    [Fact]
    public async Task TaskWithATopLevelError_FailsAtOnce_NotAtTheTimeout()
    {
        // The task says it failed (top-level error) without a final state: before, the gateway waited its 8 s task
        // timeout and answered 504 upstream_timeout; it is a failure now, answered as such.
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"x [sim task_error=1]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.DoesNotContain("upstream_timeout", body);
        Assert.DoesNotContain("MODEL_UNAVAILABLE", body);
    }

    [Fact]
    public async Task FailedTask_ItsChargeIsMetered()
    {
        using var admin = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.AdminKey);
        async Task<long> ChargedAsync() => JsonDocument.Parse(await admin.GetStringAsync("/admin/usage?model=hive2-llama&group_by=model"))
            .RootElement.GetProperty("totals").GetProperty("provider_cost_micros").GetInt64();
        var before = await ChargedAsync();

        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"charged [sim task_fail=1]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        // Hive charged for the failed task: the provider's figure is recorded (the key is billed nothing for a failure).
        await Infrastructure.Eventually.TrueAsync(async () => await ChargedAsync() > before, because: "the failed task's charge was not metered");
    }

    [Fact]
    public async Task DuplicateCallbacks_AcknowledgedButUsedOnce()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"dup [sim callback_duplicates=2]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("echo: dup", JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var callbackUrl = JsonDocument.Parse((await f.Simulator.RequestsAsync(requestId)).First().Body).RootElement.GetProperty("callback_url").GetString();
        // The original and both duplicates were acknowledged with 200 (so Hive stops retrying).
        await Infrastructure.Eventually.TrueAsync(async () => (await CallbacksAsync()).Count(c => c.Url == callbackUrl && c.Status == 200) == 3);
    }

    [Fact]
    public async Task ForgedToken_Returns401()
    {
        var valid = Tokens().Create(CallbackTokens.NewCorrelationId(), "hive2", DateTimeOffset.UtcNow.AddMinutes(5));
        var forged = valid[..^4] + (valid[^4] == 'A' ? "BBBB" : "AAAA");

        Assert.Equal(HttpStatusCode.Unauthorized, (await PostCallbackAsync(forged, FinishedTask())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostCallbackAsync("not-a-token", FinishedTask())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostCallbackAsync("", FinishedTask())).StatusCode);
    }

    [Fact]
    public async Task ExpiredToken_Returns401()
    {
        var expired = Tokens().Create(CallbackTokens.NewCorrelationId(), "hive2", DateTimeOffset.UtcNow.AddMinutes(-1));
        var response = await PostCallbackAsync(expired, FinishedTask());

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("expired", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task UnknownTask_Returns404()
    {
        var token = Tokens().Create(CallbackTokens.NewCorrelationId(), "hive2", DateTimeOffset.UtcNow.AddMinutes(5));

        Assert.Equal(HttpStatusCode.NotFound, (await PostCallbackAsync(token, FinishedTask())).StatusCode);
    }

    [Fact]
    public async Task OversizedCallback_Returns413()
    {
        var token = Tokens().Create(CallbackTokens.NewCorrelationId(), "hive2", DateTimeOffset.UtcNow.AddMinutes(5));
        var big = "{\"task_id\":\"x\",\"pad\":\"" + new string('a', 40 * 1024) + "\"}";

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await PostCallbackAsync(token, big)).StatusCode);
    }

    [Fact]
    public async Task SubmitRejectedForOurKey_Returns502()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http, """{"model":"hive2-wrong-key","messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_authentication_failed", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.DoesNotContain("wrong-provider-secret", body);
    }

    [Fact]
    public async Task SubmitRateLimited_Returns429()
    {
        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"hive2-llama","messages":[{"role":"user","content":"x [sim status=429]"}]}""");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
    }

    private static CallbackTokens Tokens() => new(Encoding.UTF8.GetBytes(TestConfig.CallbackSecret), TimeProvider.System);

    private async Task<HttpResponseMessage> PostCallbackAsync(string token, string body)
    {
        using var anonymous = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        return await anonymous.PostAsync(AsyncTaskInvoker.CallbackPath + token, new StringContent(body, Encoding.UTF8, "application/json"));
    }

    private static string FinishedTask() => """
        {"task_id":"t-1","state":"finished","charge":0.00001,"status":[{"status":{"code":"0","message":"SUCCESS"},
         "response":{"output":[{"input_tokens":3,"total_output_tokens":2,"total_tokens":5,
           "choices":[{"message":"hi there","stop_reason":"finish","output_tokens":2}]}]}}]}
        """;

}
