using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Telemetry;

/// <summary>A real consumer of the metrics: Prometheus scrapes the gateway and answers PromQL about its traffic.</summary>
public sealed class PrometheusScrapeTests
{
    [Fact]
    public async Task Prometheus_ScrapesTheGateway_AndAnswersGenAiQueries()
    {
        const string model = "prometheus-llama";
        await using var simulator = await SimulatorHost.StartAsync();
        var config = TestConfig.Standard(simulator.BaseUrl);
        config["Models"]![model] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        await using var gateway = await GatewayHost.StartAsync(config);
        await using var prometheus = await PrometheusServer.StartAsync(gateway.BaseUrl);
        var chat = gateway.Chat(model);
        for (var i = 0; i < 3; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("one two three")]);
        }

        // Three answers of 4 words ("echo: one two three") each, as the simulator counts them.
        var output = $$"""sum(gen_ai_client_token_usage_sum{gen_ai_request_model="{{model}}",gen_ai_token_type="output"})""";
        double? tokens = null;
        await Eventually.TrueAsync(async () => (tokens = await prometheus.QueryAsync(output)) == 12, TimeSpan.FromSeconds(30),
            () => $"Prometheus did not report 12 output tokens (last: {tokens}):\n{prometheus.Output}");
        Assert.Equal(3, await prometheus.QueryAsync($$"""sum(gateway_requests_total{gen_ai_request_model="{{model}}",http_response_status_code="200"})"""));
        Assert.Equal(39, await prometheus.QueryAsync($$"""sum(gateway_cost_micro_usd_total{gen_ai_request_model="{{model}}"})"""));
        Assert.Equal(3, await prometheus.QueryAsync($$"""sum(gen_ai_server_time_to_first_token_seconds_count{gen_ai_request_model="{{model}}"})"""));
        Assert.Equal(3, await prometheus.QueryAsync($$"""sum(gen_ai_server_request_duration_seconds_bucket{gen_ai_request_model="{{model}}",le="+Inf"})"""));
    }
}
