using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Forwarding;

/// <summary>Fallback between deployments, event-by-event flushing, and client disconnects.</summary>
public sealed class FallbackAndStreamingBehaviourTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData("status=503")]
    [InlineData("status=429")]
    [InlineData("reset=1")]
    [InlineData("malformed=1")]
    public async Task FirstDeploymentFails_NextOneAnswers(string knob)
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"fallback-llama","messages":[{"role":"user","content":"hello [sim only=deepinfra {{knob}}]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("echo: hello", JsonDocument.Parse(body).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        var tried = await f.Simulator.RequestsAsync(requestId);
        Assert.Equal(["deepinfra", "segmind"], tried.Select(r => r.Provider));
    }

    [Fact]
    public async Task FallbackThatCannotTakeAParameter_IsSkipped_AndTheClientIsToldBoth()
    {
        // DeepInfra fails; Segmind (strict: its seed documents no max_tokens) cannot take the request as sent. Nothing is
        // sent to Segmind, and the answer says the provider failed and why the fallback could not step in.
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"fallback-llama","max_tokens":20,"messages":[{"role":"user","content":"x [sim only=deepinfra status=503]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var message = JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("other deployments cannot take this request", message);
        Assert.Contains("'max_tokens'", message);
        Assert.Equal(["deepinfra"], (await f.Simulator.RequestsAsync(requestId)).Select(r => r.Provider));
    }

    [Fact]
    public async Task ParameterNoDeploymentTakes_IsA400NamingIt_NotAProviderFailure()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"fallback-llama","logit_bias":{"50256":-100},"messages":[{"role":"user","content":"x"}]}""", requestId);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
        Assert.Equal("logit_bias", error.GetProperty("param").GetString());
        Assert.Equal("unsupported_parameter", error.GetProperty("code").GetString());
        Assert.StartsWith("No deployment of model 'fallback-llama' accepts this request: 'logit_bias'", error.GetProperty("message").GetString());
        Assert.Empty(await f.Simulator.RequestsAsync(requestId));
    }

    [Fact]
    public async Task CallerFault_IsNotRetriedElsewhere()
    {
        var requestId = Sse.NewRequestId();
        var (response, _) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"fallback-llama","messages":[{"role":"user","content":"x [sim only=deepinfra status=422]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Single(await f.Simulator.RequestsAsync(requestId));
    }

    [Fact]
    public async Task StreamFailsBeforeAnyChunk_FallsBackWithoutTheClientNoticing()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"fallback-llama","stream":true,"messages":[{"role":"user","content":"hey [sim only=deepinfra truncate_after=0]"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[DONE]", Sse.DataLines(body)[^1]);
        Assert.Equal(2, (await f.Simulator.RequestsAsync(requestId)).Count);
    }

    [Fact]
    public async Task StreamEvents_ReachTheClientAsTheyAreProduced()
    {
        var requestId = Sse.NewRequestId();
        using var stream = await OpenStream.StartAsync(f.Gateway.BaseUrl, TestConfig.Key,
            """{"model":"hive-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=4 chunk_delay_ms=700]"}]}""", requestId);

        var first = await stream.ReadLineAsync();

        // The first event is in our hands while the provider is still producing the rest.
        Assert.StartsWith("data: {", first);
        var upstream = await f.Simulator.SingleRequestAsync(requestId);
        Assert.False(upstream.Completed);
        var rest = await stream.ReadToEndAsync();
        Assert.EndsWith("data: [DONE]\n\n", rest);
    }

    [Fact]
    public async Task ClientDisconnects_UpstreamRequestIsCancelled()
    {
        var requestId = Sse.NewRequestId();
        using (var stream = await OpenStream.StartAsync(f.Gateway.BaseUrl, TestConfig.Key,
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=100 chunk_delay_ms=200]"}]}""", requestId))
        {
            Assert.StartsWith("data: ", await stream.ReadLineAsync());
        }

        // The client's connection is gone; the simulator must see its own request aborted soon after.
        await Eventually.TrueAsync(async () => (await f.Simulator.SingleRequestAsync(requestId)).Aborted,
            TimeSpan.FromSeconds(10), "the upstream request was not cancelled");
        Assert.False((await f.Simulator.SingleRequestAsync(requestId)).Completed);
    }
}
