using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using System.ClientModel;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Routing;

/// <summary>
/// Routing end to end: circuits (open, skipped, probed, closed; shared by two replicas through Redis; visible in
/// metrics and at /admin/deployments), strategies moving traffic by latency, load, weight and price, and the request
/// deadline. Each test starts its own simulator and gateway: circuits and latencies are state.
/// </summary>
public sealed class RoutingTests : IAsyncLifetime
{
    private const string Fast = "meta-llama/Meta-Llama-3.1-8B-Instruct";
    private const string Slow = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo";

    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    private JsonObject Config(JsonObject? routing = null)
    {
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Routing"] = routing ?? new JsonObject();
        return config;
    }

    private static JsonObject TwoDeployments(string strategy, string first = Fast, string second = Slow)
    {
        var model = TestConfig.Model(("deepinfra", first), ("deepinfra", second));
        model["Strategy"] = strategy;
        return model;
    }

    private static async Task<string> UpstreamModelAsync(SimulatorHost simulator, string requestId)
    {
        var request = (await simulator.RequestsAsync(requestId)).Single();
        return JsonDocument.Parse(request.Body).RootElement.GetProperty("model").GetString()!;
    }

    [Fact]
    public async Task Circuit_OpensAfterRepeatedFailures_SkipsTheDeployment_ThenAProbeClosesIt()
    {
        var config = Config(new JsonObject
        {
            ["Retry"] = new JsonObject { ["MaxRetries"] = 0 },
            ["Circuit"] = new JsonObject { ["FailureThreshold"] = 2, ["BreakSeconds"] = 1.5 },
        });
        config["Models"]!["circuit-llama"] = TestConfig.Model(("deepinfra", Fast), ("segmind", "llama-v3p1-8b-instruct"));
        // The gateway's clock is the test's: the cool-down passes when the test says so, not after a sleep.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayHost.StartAsync(config, b => b.Services.AddSingleton<TimeProvider>(clock));
        using var metrics = new HostMetrics(gateway.Services);
        const string failing = "x [sim only=deepinfra status=503]";

        for (var i = 0; i < 2; i++)
        {
            var id = Sse.NewRequestId();
            // Two keys' failures: one key's alone never opens a circuit every key shares (Circuit:MinKeys, TenantTests).
            await gateway.Chat("circuit-llama", i == 0 ? TestConfig.Key : TestConfig.AdminKey, headers: new Dictionary<string, string> { ["x-request-id"] = id })
                .CompleteChatAsync([new UserChatMessage(failing)]);
            Assert.Equal(["deepinfra", "segmind"], (await _simulator.RequestsAsync(id)).Select(r => r.Provider));
        }

        // Open: the next request does not even try deepinfra, though it would now answer.
        var skipped = Sse.NewRequestId();
        await gateway.Chat("circuit-llama", headers: new Dictionary<string, string> { ["x-request-id"] = skipped }).CompleteChatAsync([new UserChatMessage("x")]);
        Assert.Equal(["segmind"], (await _simulator.RequestsAsync(skipped)).Select(r => r.Provider));
        var state = await DeploymentStateAsync(gateway, "circuit-llama", "deepinfra/" + Fast);
        Assert.Equal("open", state.GetProperty("circuit").GetString());
        Assert.Equal(2, state.GetProperty("consecutive_failures").GetInt32());
        Assert.Equal(1, metrics.Gauge("gateway.circuit.state", ("gateway.deployment", "deepinfra/" + Fast)));
        Assert.Equal(1, metrics.Sum("gateway.circuit.transitions", ("gateway.deployment", "deepinfra/" + Fast), ("gateway.circuit.state", "open")));
        Assert.True(metrics.Sum("gateway.circuit.skips", ("gateway.deployment", "deepinfra/" + Fast)) >= 1);

        // Not before the cool-down is over: still skipped a moment before it ends.
        clock.Advance(TimeSpan.FromSeconds(1.4));
        var early = Sse.NewRequestId();
        await gateway.Chat("circuit-llama", headers: new Dictionary<string, string> { ["x-request-id"] = early }).CompleteChatAsync([new UserChatMessage("x")]);
        Assert.Equal(["segmind"], (await _simulator.RequestsAsync(early)).Select(r => r.Provider));

        // After the cool-down one probe goes to deepinfra; it answers, and the circuit closes.
        clock.Advance(TimeSpan.FromSeconds(0.2));
        var probe = Sse.NewRequestId();
        await gateway.Chat("circuit-llama", headers: new Dictionary<string, string> { ["x-request-id"] = probe }).CompleteChatAsync([new UserChatMessage("x")]);
        Assert.Equal(["deepinfra"], (await _simulator.RequestsAsync(probe)).Select(r => r.Provider));
        Assert.Equal("closed", (await DeploymentStateAsync(gateway, "circuit-llama", "deepinfra/" + Fast)).GetProperty("circuit").GetString());
        Assert.Equal(0, metrics.Gauge("gateway.circuit.state", ("gateway.deployment", "deepinfra/" + Fast)));
        Assert.Equal(1, metrics.Sum("gateway.circuit.transitions", ("gateway.deployment", "deepinfra/" + Fast), ("gateway.circuit.state", "closed")));
    }

    [Fact]
    public async Task Circuit_OpenedByOneReplica_IsSkippedByAnother_ThroughRedis()
    {
        await using var redis = await RedisServer.StartAsync();
        var config = Config(new JsonObject
        {
            ["Retry"] = new JsonObject { ["MaxRetries"] = 0 },
            // One key's one failure is enough here (a single-tenant setting): this test is about sharing the opening.
            ["Circuit"] = new JsonObject { ["FailureThreshold"] = 1, ["BreakSeconds"] = 60, ["MinKeys"] = 1 },
        });
        config["Redis"] = new JsonObject { ["Configuration"] = redis.Configuration };
        config["Models"]!["shared-circuit"] = TestConfig.Model(("deepinfra", Fast), ("segmind", "llama-v3p1-8b-instruct"));
        await using var a = await GatewayHost.StartAsync(config);
        await using var b = await GatewayHost.StartAsync(config);

        await a.Chat("shared-circuit").CompleteChatAsync([new UserChatMessage("x [sim only=deepinfra status=503]")]);

        // Replica b never saw deepinfra fail, yet skips it.
        await Eventually.TrueAsync(async () =>
            (await DeploymentStateAsync(b, "shared-circuit", "deepinfra/" + Fast)).GetProperty("circuit").GetString() == "open",
            TimeSpan.FromSeconds(5), "replica b did not hear that the circuit opened");
        var id = Sse.NewRequestId();
        await b.Chat("shared-circuit", headers: new Dictionary<string, string> { ["x-request-id"] = id }).CompleteChatAsync([new UserChatMessage("x")]);
        Assert.Equal(["segmind"], (await _simulator.RequestsAsync(id)).Select(r => r.Provider));

        // A replica that starts later learns it from Redis before it is ready.
        await using var c = await GatewayHost.StartAsync(config);
        Assert.Equal("open", (await DeploymentStateAsync(c, "shared-circuit", "deepinfra/" + Fast)).GetProperty("circuit").GetString());
    }

    [Fact]
    public async Task LowestLatency_MovesTrafficOffADeploymentTenTimesSlower()
    {
        // Two providers, each a simulator of its own: one answers in 25 ms, the other (at least ten times slower) in 1 s. The
        // gap is wide so that a busy CI host, which slows the quick one's answers for a while, does not make it look the
        // slower one (with 250 ms, one such run sent 14 of 100 requests to the slow one).
        await using var slowSimulator = await SimulatorHost.StartAsync();
        await _simulator.SetFaultsAsync("latency_ms=25");
        await slowSimulator.SetFaultsAsync("latency_ms=1000");
        var config = Config();
        config["Providers"]!["quick"] = TestConfig.Provider("deepinfra", _simulator.BaseUrl.ToString().TrimEnd('/'), "GW_TEST_DEEPINFRA_KEY");
        config["Providers"]!["sluggish"] = TestConfig.Provider("deepinfra", slowSimulator.BaseUrl.ToString().TrimEnd('/'), "GW_TEST_DEEPINFRA_KEY");
        var model = TestConfig.Model(("sluggish", Fast), ("quick", Fast));
        model["Strategy"] = "lowest-latency";
        config["Models"]!["latency-llama"] = model;
        // The same deployments alone (a deployment's health is shared by every model it serves): each is measured a few
        // times first, so a cold first call (connection, compilation; slow on a busy machine) does not stand for it.
        config["Models"]!["sluggish-only"] = TestConfig.Model(("sluggish", Fast));
        config["Models"]!["quick-only"] = TestConfig.Model(("quick", Fast));
        await using var gateway = await GatewayHost.StartAsync(config);
        for (var i = 0; i < 10; i++)
        {
            if (i < 4)
            {
                await gateway.Chat("sluggish-only").CompleteChatAsync([new UserChatMessage("warm")]);
            }

            await gateway.Chat("quick-only").CompleteChatAsync([new UserChatMessage("warm")]);
        }

        const int requests = 100;
        var ids = new List<string>();
        for (var i = 0; i < requests; i++)
        {
            var id = Sse.NewRequestId();
            ids.Add(id);
            await gateway.Chat("latency-llama", headers: new Dictionary<string, string> { ["x-request-id"] = id }).CompleteChatAsync([new UserChatMessage("x")]);
        }

        var slowTurns = 0;
        foreach (var id in ids)
        {
            slowTurns += (await slowSimulator.RequestsAsync(id)).Count;
        }

        Assert.True(slowTurns <= requests / 10, $"{slowTurns} of {requests} requests went to the deployment ten times slower");
        var quick = (await DeploymentStateAsync(gateway, "latency-llama", "quick/" + Fast)).GetProperty("latency_ms").GetDouble();
        var sluggish = (await DeploymentStateAsync(gateway, "latency-llama", "sluggish/" + Fast)).GetProperty("latency_ms").GetDouble();
        Assert.True(sluggish > quick * 3, $"latencies seen: quick {quick} ms, sluggish {sluggish} ms");
    }

    [Fact]
    public async Task LeastInFlight_SpreadsConcurrentRequests()
    {
        var config = Config();
        config["Models"]!["busy-llama"] = TwoDeployments("least-in-flight");
        await using var gateway = await GatewayHost.StartAsync(config);
        var ids = Enumerable.Range(0, 16).Select(_ => Sse.NewRequestId()).ToList();

        // Sent a few milliseconds apart, each answering after 600 ms: the later ones see the earlier ones in flight.
        var calls = new List<Task>();
        foreach (var id in ids)
        {
            calls.Add(gateway.Chat("busy-llama", headers: new Dictionary<string, string> { ["x-request-id"] = id })
                .CompleteChatAsync([new UserChatMessage("x [sim latency_ms=600]")]));
            await Task.Delay(15);
        }

        await Task.WhenAll(calls);
        var models = await Task.WhenAll(ids.Select(id => UpstreamModelAsync(_simulator, id)));
        var atFast = models.Count(m => m == Fast);
        Assert.InRange(atFast, 5, 11);
    }

    [Fact]
    public async Task Weighted_And_Cheapest_ChooseAsConfigured()
    {
        var config = Config();
        var weighted = TwoDeployments("weighted");
        weighted["Deployments"]![0]!["Weight"] = 9;
        config["Models"]!["weighted-llama"] = weighted;
        var cheapest = TwoDeployments("cheapest");
        cheapest["Deployments"]![1]!["Price"] = new JsonObject { ["InputPerMillion"] = 0.1, ["OutputPerMillion"] = 0.1 };
        config["Models"]!["cheap-llama"] = cheapest;
        await using var gateway = await GatewayHost.StartAsync(config);

        async Task<int> CountAsync(string model, string upstream)
        {
            var n = 0;
            for (var i = 0; i < 60; i++)
            {
                var id = Sse.NewRequestId();
                await gateway.Chat(model, headers: new Dictionary<string, string> { ["x-request-id"] = id }).CompleteChatAsync([new UserChatMessage("x")]);
                n += await UpstreamModelAsync(_simulator, id) == upstream ? 1 : 0;
            }

            return n;
        }

        // 9:1 weights: about 54 of 60 (the chance of fewer than 40 is below one in a million).
        Assert.InRange(await CountAsync("weighted-llama", Fast), 40, 60);
        Assert.Equal(60, await CountAsync("cheap-llama", Slow));
    }

    [Fact]
    public async Task Deadline_BoundsTheWholeRequest_AndEachAttemptGetsWhatIsLeft()
    {
        var config = Config(new JsonObject { ["Retry"] = new JsonObject { ["MaxRetries"] = 0 } });
        config["Models"]!["deadline-llama"] = TestConfig.Model(("deepinfra", Fast), ("segmind", "llama-v3p1-8b-instruct"));
        await using var gateway = await GatewayHost.StartAsync(config);
        var id = Sse.NewRequestId();
        var chat = gateway.Chat("deadline-llama", headers: new Dictionary<string, string> { ["x-request-id"] = id, ["x-gateway-timeout-ms"] = "1500" });
        var clock = Stopwatch.StartNew();

        // deepinfra answers 503 after 0.5 s; segmind would take 10 s: it gets the 1 s left, and no more.
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            chat.CompleteChatAsync([new UserChatMessage("x [sim only=deepinfra latency_ms=500 status=503] [sim only=segmind latency_ms=10000]")]));

        Assert.Equal(504, error.Status);
        Assert.Contains("deadline_exceeded", error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"answered after {clock.Elapsed}: the deadline did not stop the fallback");
        var tried = await _simulator.RequestsAsync(id);
        Assert.Equal(["deepinfra", "segmind"], tried.Select(r => r.Provider));
        await Eventually.TrueAsync(async () => (await _simulator.RequestsAsync(id))[1].Aborted, TimeSpan.FromSeconds(5),
            "the attempt still running at the deadline was not cancelled");
    }

    [Fact]
    public async Task Deadline_MidStream_EndsTheStreamWithAnErrorEvent()
    {
        await using var gateway = await GatewayHost.StartAsync(Config());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=20 chunk_delay_ms=200]"}]}"""),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.Key);
        request.Headers.Add("x-gateway-timeout-ms", "1000");
        using var response = await gateway.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var last = Sse.DataLines(body)[^1];
        Assert.Equal("deadline_exceeded", JsonDocument.Parse(last).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("1.5")]
    [InlineData("999999999999")]
    public async Task Deadline_Malformed_Is400(string value)
    {
        await using var gateway = await GatewayHost.StartAsync(Config());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}"""),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.Key);
        request.Headers.TryAddWithoutValidation("x-gateway-timeout-ms", value);
        using var response = await gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_timeout", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task AdminDeployments_IsForAdminsOnly()
    {
        await using var gateway = await GatewayHost.StartAsync(Config());
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/deployments");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.Key);
        using var response = await gateway.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);

        using var bare = new HttpClient { BaseAddress = gateway.BaseUrl };
        using var anonymous = await bare.GetAsync("/admin/deployments");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    private static async Task<JsonElement> DeploymentStateAsync(GatewayHost gateway, string model, string deploymentId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/deployments");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestConfig.AdminKey);
        using var response = await gateway.Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var route = doc.RootElement.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("model").GetString() == model);
        return route.GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("id").GetString() == deploymentId).Clone();
    }
}
