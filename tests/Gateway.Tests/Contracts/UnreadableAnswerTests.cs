using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Contracts;

/// <summary>
/// A provider's answer the gateway cannot read is the provider's fault: a 502 naming an unreadable answer, and one
/// warning in the log, never an unexpected failure with a stack trace.
/// </summary>
public sealed class UnreadableAnswerTests
{
    [Theory]
    [InlineData("null")]
    [InlineData("{}")]
    public async Task SeedAnswerWithItsChoiceBroken_IsA502_AndAWarning_NotAnUnexpectedFailure(string choice)
    {
        // DeepInfra's seed answer with its one choice made null (the serializer used to read that as a null choice, which
        // the gateway then failed on: an error with a NullReferenceException's stack trace) or empty (no message).
        var seed = ContractHarness.SeedJson("deepinfra.response-1.json");
        seed["choices"] = new JsonArray(JsonNode.Parse(choice));
        using var provider = ContractHarness.DeepInfraAnswering(
            Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(seed.ToJsonString()));
        var logs = new CapturedLogs();
        await using var gateway = await GatewayHost.StartAsync(TestConfig.Standard(new Uri(provider.Url!)), builder => builder.Logging.AddProvider(logs));

        var (response, text) = await Sse.PostAsync(gateway.Http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"Hello!"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_invalid_response", JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Empty(logs.Failures);
        Assert.Contains(logs.Lines, l => l.Contains("sent an answer that is not a readable completion", StringComparison.Ordinal));
    }
}
