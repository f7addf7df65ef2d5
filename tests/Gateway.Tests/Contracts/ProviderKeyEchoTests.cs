using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Contracts;

/// <summary>
/// A provider that echoes the key the gateway sent it (as OpenAI-style APIs do in "Incorrect API key provided: …") must
/// not hand that key to the client or the log: the gateway scrubs it from every provider message it passes on.
/// </summary>
public sealed class ProviderKeyEchoTests
{
    // TestConfig's DeepInfra key (GW_TEST_DEEPINFRA_KEY).
    private const string ProviderKey = "sim-deepinfra-key";

    [Fact]
    public async Task AnErrorAnswerEchoingTheKey_ReachesClientAndLogScrubbed()
    {
        using var provider = ContractHarness.DeepInfraAnswering(Response.Create().WithStatusCode(400).WithHeader("Content-Type", "application/json")
            .WithBody($$$"""{"error":{"message":"Incorrect API key provided: {{{ProviderKey}}}.","type":"invalid_request_error"}}"""));
        var logs = new CapturedLogs();
        await using var gateway = await GatewayHost.StartAsync(TestConfig.Standard(new Uri(provider.Url!)), builder => builder.Logging.AddProvider(logs));

        var (_, text) = await Sse.PostAsync(gateway.Http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"Hello!"}]}""");

        Assert.Contains("Incorrect API key provided: [redacted].", text, StringComparison.Ordinal);
        Assert.DoesNotContain(ProviderKey, text, StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.Contains("[redacted]", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(ProviderKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AStreamErrorEventEchoingTheKey_IsLoggedScrubbed()
    {
        using var provider = ContractHarness.DeepInfraAnswering(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "text/event-stream")
            .WithBody($$$"""
                data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}

                data: {"error":{"message":"key {{{ProviderKey}}} was revoked mid-stream","type":"server_error"}}


                """));
        var logs = new CapturedLogs();
        await using var gateway = await GatewayHost.StartAsync(TestConfig.Standard(new Uri(provider.Url!)), builder => builder.Logging.AddProvider(logs));

        var (_, text) = await Sse.PostAsync(gateway.Http,
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"Hello!"}]}""");

        Assert.DoesNotContain(ProviderKey, text, StringComparison.Ordinal);
        Assert.Contains(logs.Lines, l => l.Contains("key [redacted] was revoked", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Lines, l => l.Contains(ProviderKey, StringComparison.Ordinal));
    }
}
