using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Hostile;

/// <summary>A gateway with limited keys for the hostile-client tests; the simulator behind it.</summary>
public sealed class HostileFixture : IAsyncLifetime
{
    public const string InFlightKey = "sk-hostile-inflight";
    public const string TokensKey = "sk-hostile-tokens";
    public const string BudgetKey = "sk-hostile-budget";
    public const string PacedKey = "sk-hostile-paced";

    public SimulatorHost Simulator { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // deepinfra-extras below passes undocumented fields; one test sends a vendor's own flag through it, which the
        // provider behind such a deployment takes (that is why an operator would pass it).
        Simulator = await SimulatorHost.StartAcceptingAsync(["vendor_flag"]);
        var config = TestConfig.Standard(Simulator.BaseUrl);
        var keys = config["Keys"]!.AsObject();
        keys["inflight"] = Key(InFlightKey, new JsonObject { ["ConcurrentRequests"] = 2 });
        keys["tokens"] = Key(TokensKey, new JsonObject { ["TokensPerMinute"] = 10_000 });
        keys["budget"] = Key(BudgetKey, new JsonObject { ["BudgetUsd"] = 0.01m, ["BudgetPeriod"] = "day" });
        config["Models"]!["deepinfra-extras"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"))
            .With(d => d["PassParameters"] = new JsonArray("vendor_flag"));
        Gateway = await GatewayHost.StartAsync(config);
    }

    private static JsonObject Key(string key, JsonObject limits) =>
        new() { ["Sha256"] = TestConfig.Sha256(key), ["Models"] = new JsonArray("*"), ["Limits"] = limits };

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Simulator.DisposeAsync();
    }

    public HttpClient Http(string key)
    {
        var http = new HttpClient { BaseAddress = Gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        return http;
    }
}

/// <summary>Clients that try to get past their limits, or to hurt the gateway with what they send.</summary>
public sealed class HostileClientTests(HostileFixture f) : IClassFixture<HostileFixture>
{
    [Fact]
    public async Task OneConnectionCarryingTwoKeys_NeverHandsOneRequestsIdToTheNext()
    {
        // The request id is kept on the request (HttpContext.TraceIdentifier), and a keep-alive connection serves request
        // after request on the same context: a proxy that multiplexes keys onto one connection must never see one key's id
        // (the caller's own here) on the next key's answer, an admitted one or one refused for a bad key.
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = f.Gateway.BaseUrl };
        var ids = new List<string>();
        foreach (var (key, id) in new[] { (HostileFixture.TokensKey, "key-a-own-id"), (HostileFixture.InFlightKey, null), ("sk-not-a-key", null),
                     (HostileFixture.TokensKey, null) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""", System.Text.Encoding.UTF8,
                    "application/json"),
            };
            request.Headers.Authorization = new("Bearer", key);
            if (id is not null)
            {
                request.Headers.Add("x-request-id", id);
            }

            using var response = await http.SendAsync(request);
            ids.Add(Assert.Single(response.Headers.GetValues("x-request-id")));
        }

        Assert.Equal("key-a-own-id", ids[0]);
        Assert.Equal(4, ids.Distinct().Count());
        Assert.All(ids.Skip(1), id => Assert.StartsWith("req_", id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task SharedRequestId_DoesNotDefeatTheInFlightLimit()
    {
        using var http = f.Http(HostileFixture.InFlightKey);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 6).Select(async _ =>
        {
            var (response, _) = await Sse.PostAsync(http,
                """{"model":"deepinfra-llama","messages":[{"role":"user","content":"hold on [sim latency_ms=600]"}]}""", "same-id-for-all");
            return response.StatusCode;
        }));

        Assert.Equal(2, statuses.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(4, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
    }

    [Fact]
    public async Task MaxTokensNearIntMax_IsA400NamingTheLimit_AndHonestTrafficGoesOn()
    {
        using var http = f.Http(HostileFixture.TokensKey);

        var (refused, body) = await Sse.PostAsync(http,
            """{"model":"deepinfra-llama","max_tokens":2147483647,"messages":[{"role":"user","content":"x"}]}""");
        var (honest, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","max_tokens":100,"messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());
        Assert.Equal("request_exceeds_limit", error.GetProperty("code").GetString());
        Assert.Contains("10000", error.GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.OK, honest.StatusCode);
        // The honest request's reservation was counted as itself, not on top of 2^31 tokens.
        Assert.InRange(long.Parse(honest.Headers.GetValues("x-ratelimit-remaining-tokens").Single(), System.Globalization.CultureInfo.InvariantCulture), 9_800, 9_900);
    }

    [Fact]
    public async Task MaxTokensBeyondEveryCeiling_ReservesTheCeiling()
    {
        using var http = f.Http(HostileFixture.TokensKey);
        var requestId = Sse.NewRequestId();

        // Hive V3 documents at most 2048: that is all a request there can use, and reserve.
        var (response, _) = await Sse.PostAsync(http,
            """{"model":"hive-llama","max_tokens":2147483647,"n":1,"messages":[{"role":"user","content":"x"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement;
        Assert.Equal(2048, sent.GetProperty("max_tokens").GetInt32());
    }

    [Fact]
    public async Task RequestThatCanCostMoreThanTheBudget_IsA400()
    {
        using var http = f.Http(HostileFixture.BudgetKey);

        // 100,000 completion tokens at $2 per million may cost $0.20, more than the whole $0.01 budget.
        var (response, body) = await Sse.PostAsync(http,
            """{"model":"deepinfra-llama","max_tokens":100000,"messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("request_exceeds_budget", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task BudgetedKeyWithoutMaxTokens_UpstreamIsCappedToWhatWasReserved()
    {
        using var http = f.Http(HostileFixture.BudgetKey);
        var requestId = Sse.NewRequestId();

        var (response, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement;
        Assert.Equal(1024, sent.GetProperty("max_tokens").GetInt32());
    }

    [Fact]
    public async Task CaseTwistedShadowFields_NeverReachTheProvider()
    {
        var requestId = Sse.NewRequestId();

        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","Model":"very-expensive/model","MESSAGES":[],"Stream":true,"top_k":5,"messages":[{"role":"user","content":"x","ROLE":"system"}]}""",
            requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = (await f.Simulator.SingleRequestAsync(requestId)).Body;
        var sent = JsonDocument.Parse(body).RootElement;
        Assert.Equal(["messages", "model", "top_k"], sent.EnumerateObject().Select(p => p.Name).Order().ToList());
        Assert.Equal("meta-llama/Meta-Llama-3.1-8B-Instruct", sent.GetProperty("model").GetString());
        Assert.DoesNotContain("very-expensive", body);
        Assert.DoesNotContain("ROLE", body);
    }

    [Fact]
    public async Task UnknownFields_PassOnlyWhereTheProviderOrTheDeploymentSaysSo()
    {
        var (refused, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","vendor_flag":true,"messages":[{"role":"user","content":"x"}]}""");
        var requestId = Sse.NewRequestId();
        var (passed, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-extras","vendor_flag":true,"messages":[{"role":"user","content":"x"}]}""", requestId);

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("vendor_flag", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal(HttpStatusCode.OK, passed.StatusCode);
        Assert.True(JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement.GetProperty("vendor_flag").GetBoolean());
    }

    [Fact]
    public async Task ClientLeavingWhileQueuedAtTheProviderPacer_ReleasesItsSlot_AndIsMetered()
    {
        // A gateway of its own on the test's clock: the provider's one slot a second is taken, and the next request queues
        // for the next second, which comes when the test says so.
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Keys"]!["paced"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(HostileFixture.PacedKey), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["ConcurrentRequests"] = 1 },
        };
        var paced = TestConfig.Provider("deepinfra", f.Simulator.BaseUrl.ToString().TrimEnd('/'), "GW_TEST_DEEPINFRA_KEY");
        paced["RequestsPerSecond"] = 1;
        paced["WhenLimited"] = "queue";
        paced["MaxQueueSeconds"] = 10;
        config["Providers"]!["paced"] = paced;
        config["Models"]!["paced-llama"] = TestConfig.Model(("paced", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayHost.StartAsync(config, b => b.Services.AddSingleton<TimeProvider>(clock));
        using var metrics = new HostMetrics(gateway.Services);
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", HostileFixture.PacedKey);
        const string Body = """{"model":"paced-llama","messages":[{"role":"user","content":"x"}]}""";
        Assert.Equal(HttpStatusCode.OK, (await Sse.PostAsync(http, Body)).Response.StatusCode);

        var leaving = Sse.NewRequestId();
        using (var cts = new CancellationTokenSource())
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Body) };
            request.Headers.Add("x-request-id", leaving);
            var sending = http.SendAsync(request, cts.Token);
            await Eventually.TrueAsync(() => Task.FromResult(metrics.Sum("gateway.provider.queued", ("gen_ai.system", "paced")) == 1),
                TimeSpan.FromSeconds(10), "the second request never queued at the pacer");
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending);
        }

        await Eventually.TrueAsync(() => Task.FromResult(metrics.Sum("gateway.provider.queued", ("gen_ai.system", "paced")) == 0),
            TimeSpan.FromSeconds(10), "the request that left is still queued");
        // Its in-flight slot (the key allows one) was given back: in the next second, the next request is admitted.
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(HttpStatusCode.OK, (await Sse.PostAsync(http, Body)).Response.StatusCode);
        // And the request that left was metered.
        await Eventually.TrueAsync(() => Task.FromResult(Directory.EnumerateFiles(gateway.JournalDirectory, "usage-*.jsonl").SelectMany(File.ReadAllLines)
            .Any(l => l.Contains(leaving, StringComparison.Ordinal) && l.Contains("client_closed", StringComparison.Ordinal))));
    }

    public static TheoryData<string, string, string> LoneSurrogates()
    {
        var data = new TheoryData<string, string, string>();
        string[] escapes = ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00b", "\\ud800\\ud800"];
        (string Template, string Param)[] fields =
        [
            ("""{"model":"MODEL","messages":[{"role":"user","content":"S"}]}""", "messages[0].content"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":[{"type":"text","text":"S"}]}]}""", "messages[0].content[0].text"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x","name":"S"}]}""", "messages[0].name"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x"}],"stop":["S"]}""", "stop[0]"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x"}],"user":"S"}""", "user"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"S","parameters":{}}}]}""", "tools[0].function.name"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x"}],"vendor_flag":{"deep":["S"]}}""", "vendor_flag.deep[0]"),
            ("""{"model":"MODEL","messages":[{"role":"user","content":"x"}],"top_k":1,"S":1}""", "(property name)"),
        ];
        foreach (var model in new[] { "deepinfra-extras", "hive-llama", "segmind-llama" })
        {
            for (var i = 0; i < fields.Length; i++)
            {
                var escape = escapes[i % escapes.Length];
                data.Add(model, fields[i].Template.Replace("MODEL", model, StringComparison.Ordinal).Replace("\"S\"", "\"" + escape + "\"", StringComparison.Ordinal), fields[i].Param);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LoneSurrogates))]
    public async Task LoneSurrogateEscape_AnywhereInTheBody_IsA400NamingTheField(string model, string json, string param)
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http, json);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{model}: {(int)response.StatusCode} {body}");
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("invalid_value", error.GetProperty("code").GetString());
        Assert.EndsWith(param, error.GetProperty("param").GetString() ?? error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task PairedSurrogates_AreText_AndPassThrough()
    {
        var requestId = Sse.NewRequestId();

        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","messages":[{"role":"user","content":"smile \ud83d\ude00"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("smile 😀", JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement
            .GetProperty("messages")[0].GetProperty("content").GetString());
    }
}
