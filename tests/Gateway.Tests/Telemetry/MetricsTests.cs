using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Telemetry;

/// <summary>The Prometheus scrape endpoint: GenAI and gateway instruments after real traffic, and where it is served.</summary>
public sealed class MetricsTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    // A model name of this class only: gateways of other tests in this process never report it.
    private JsonObject Config(string model)
    {
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Models"]![model] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct")).With(d => d["PassParameters"] = TestConfig.DeepInfraPassed());
        return config;
    }

    [Fact]
    public async Task Scrape_AfterTraffic_HasGenAiAndGatewayInstruments_WithoutKeys()
    {
        const string model = "metrics-llama";
        await using var gateway = await GatewayHost.StartAsync(Config(model));
        var chat = gateway.Chat(model);
        await chat.CompleteChatAsync([new UserChatMessage("one two three")]);
        await foreach (var _ in chat.CompleteChatStreamingAsync([new UserChatMessage("one two three")]))
        {
        }

        using var wrongKey = await gateway.Http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Headers = { Authorization = new("Bearer", "sk-not-a-key") },
            Content = new StringContent($$"""{"model":"{{model}}","messages":[]}"""),
        });

        // A request is measured when the gateway has finished it, which can be just after its client read [DONE]: the
        // scrape waits until both requests are in, rather than racing the second one's end.
        var m = ("gen_ai_request_model", model);
        var text = "";
        List<PrometheusText.Sample> samples = [];
        await Eventually.TrueAsync(async () =>
        {
            text = await gateway.Http.GetStringAsync("/metrics");
            samples = PrometheusText.Parse(text);
            return samples.Sum("gateway_requests_total", m, ("http_response_status_code", "200"), ("gateway_outcome", "ok")) >= 2;
        }, because: "the two requests never both showed in the scrape");
        // The simulator counts words: 3 in, "echo: one two three" is 4 out, for each of the two requests.
        Assert.Equal(6, samples.Sum("gen_ai_client_token_usage_sum", m, ("gen_ai_token_type", "input"), ("gen_ai_system", "deepinfra"), ("gen_ai_operation_name", "chat")));
        Assert.Equal(8, samples.Sum("gen_ai_client_token_usage_sum", m, ("gen_ai_token_type", "output")));
        Assert.Equal(2, samples.Sum("gen_ai_client_token_usage_count", m, ("gen_ai_token_type", "output")));
        Assert.Equal(2, samples.Sum("gen_ai_server_request_duration_seconds_count", m, ("gen_ai_response_model", "meta-llama/Meta-Llama-3.1-8B-Instruct")));
        Assert.Equal(2, samples.Sum("gen_ai_server_time_to_first_token_seconds_count", m));
        Assert.Equal(2, samples.Sum("gen_ai_server_time_per_output_token_seconds_count", m));
        Assert.Equal(2, samples.Sum("gateway_requests_total", m, ("http_response_status_code", "200"), ("gateway_outcome", "ok")));
        // Price 1.5/2 USD per million: 3*1.5 + 4*2 = 12.5 -> 13 micro-dollars per request.
        Assert.Equal(26, samples.Sum("gateway_cost_micro_usd_total", m));
        Assert.True(samples.Sum("gateway_requests_total", ("gateway_outcome", "invalid_api_key"), ("http_response_status_code", "401")) >= 1);
        Assert.True(samples.Sum("gateway_usage_buffer_depth") >= 0);
        Assert.Contains(samples, s => s.Name == "http_server_request_duration_seconds_count");
        Assert.Contains(samples, s => s.Name.StartsWith("http_client_request_duration_seconds", StringComparison.Ordinal));
        Assert.DoesNotContain(samples, s => s.Labels.ContainsKey("gateway_key"));
        Assert.DoesNotContain(TestConfig.Key, text);
    }

    [Fact]
    public async Task KeyNames_OnlyWhenTheOperatorEnablesThem()
    {
        const string model = "metrics-keys-llama";
        await using var gateway = await GatewayHost.StartAsync(Config(model), "--Telemetry:KeyNamesInMetrics=true");
        await gateway.Chat(model).CompleteChatAsync([new UserChatMessage("hi")]);

        var text = await gateway.Http.GetStringAsync("/metrics");

        Assert.Equal(1, PrometheusText.Parse(text).Sum("gateway_requests_total", ("gen_ai_request_model", model), ("gateway_key", "test")));
        Assert.DoesNotContain(TestConfig.Key, text);
    }

    [Fact]
    public async Task OwnPort_ServesMetricsThereAndNothingElse()
    {
        var port = FreePort.Get();
        await using var gateway = await GatewayHost.StartAsync(Config("metrics-port-llama"), $"--Telemetry:Prometheus:Port={port}");
        using var metrics = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };

        using var onMain = await gateway.Http.GetAsync("/metrics");
        using var onOwn = await metrics.GetAsync("/metrics");
        using var apiOnOwn = await metrics.GetAsync("/v1/models");

        Assert.Equal(HttpStatusCode.NotFound, onMain.StatusCode);
        Assert.Contains("unknown_url", await onMain.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, onOwn.StatusCode);
        Assert.Contains("target_info", await onOwn.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, apiOnOwn.StatusCode);
    }

    [Fact]
    public async Task Disabled_NoScrapeEndpoint()
    {
        await using var gateway = await GatewayHost.StartAsync(Config("metrics-off-llama"), "--Telemetry:Prometheus:Enabled=false");

        using var response = await gateway.Http.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
