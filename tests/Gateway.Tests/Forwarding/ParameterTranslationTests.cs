using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Forwarding;

/// <summary>What each provider receives for the OpenAI parameters a client sends (README, "Parameter translation").</summary>
public sealed class ParameterTranslationTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    private async Task<(HttpStatusCode Status, JsonElement Sent, string Answer)> SendAsync(string model, string extra)
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]{{extra}}}""", requestId);
        var received = await f.Simulator.RequestsAsync(requestId);
        var sent = received.Count == 0 ? default : JsonDocument.Parse(received[0].Body).RootElement.Clone();
        return (response.StatusCode, sent, body);
    }

    [Fact]
    public async Task NothingSent_NothingInvented()
    {
        foreach (var model in new[] { "hive-llama", "deepinfra-llama", "segmind-llama" })
        {
            var (status, sent, _) = await SendAsync(model, "");

            Assert.Equal(HttpStatusCode.OK, status);
            var names = sent.EnumerateObject().Select(p => p.Name).Order().ToList();
            // Not streaming is every provider's default, so no "stream": false; Segmind's model is its URL slug.
            Assert.Equal(model == "segmind-llama" ? ["messages"] : ["messages", "model"], names);
        }
    }

    [Fact]
    public async Task UpstreamModel_ReplacesPublicName()
    {
        var (_, sent, answer) = await SendAsync("deepinfra-llama", "");

        Assert.Equal("meta-llama/Meta-Llama-3.1-8B-Instruct", sent.GetProperty("model").GetString());
        Assert.Equal("deepinfra-llama", JsonDocument.Parse(answer).RootElement.GetProperty("model").GetString());
    }

    [Fact]
    public async Task SegmindSlug_GoesInThePath()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http, """{"model":"segmind-llama","messages":[{"role":"user","content":"hi"}]}""", requestId);
        var sent = await f.Simulator.SingleRequestAsync(requestId);

        Assert.Equal("/v1/llama-v3p1-8b-instruct", sent.Path);
        Assert.Equal("sim-segmind-key", sent.ApiKeyHeader);
        Assert.Equal("", sent.Authorization);
    }

    [Fact]
    public async Task HiveMaxTokens_ClampedTo2048()
    {
        var (status, sent, _) = await SendAsync("hive-llama", ""","max_tokens":5000""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2048, sent.GetProperty("max_tokens").GetInt32());
    }

    [Fact]
    public async Task MaxCompletionTokens_SentAsMaxTokens()
    {
        var (_, sent, _) = await SendAsync("deepinfra-llama", ""","max_completion_tokens":77""");

        Assert.Equal(77, sent.GetProperty("max_tokens").GetInt32());
        Assert.False(sent.TryGetProperty("max_completion_tokens", out _));
    }

    [Fact]
    public async Task HiveTemperature_UndocumentedBySeed_RefusedUnlessTheDeploymentPassesIt()
    {
        // Seed 001 documents model, max_tokens and messages only: nothing else goes to Hive V3 on a guess.
        var (status, sent, answer) = await SendAsync("hive-strict", ""","temperature":0.5""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(JsonValueKind.Undefined, sent.ValueKind);
        var error = JsonDocument.Parse(answer).RootElement.GetProperty("error");
        Assert.Equal("temperature", error.GetProperty("param").GetString());
        Assert.Equal("unsupported_parameter", error.GetProperty("code").GetString());
        Assert.Contains("PassParameters", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task HiveTemperature_PassedWithoutABorrowedRange()
    {
        // V2's 0..1 is another API's range: where the deployment passes temperature, Hive itself judges the value.
        var (status, sent, _) = await SendAsync("hive-llama", ""","temperature":1.5""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1.5, sent.GetProperty("temperature").GetDouble());
    }

    [Fact]
    public async Task UndocumentedDropped_WhenTheDeploymentSaysDrop()
    {
        var (status, sent, _) = await SendAsync("hive-lenient", ""","temperature":1.5,"seed":7,"top_k":40""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["messages", "model"], sent.EnumerateObject().Select(p => p.Name).Order().ToList());
    }

    [Fact]
    public async Task DocumentedRange_ClampedWhenTheDeploymentOptsIn()
    {
        // top_p 0 is valid OpenAI, outside DeepInfra's documented 0 < top_p <= 1.
        var (refused, _, _) = await SendAsync("deepinfra-llama", ""","top_p":0""");
        var (clamped, sent, _) = await SendAsync("deepinfra-clamping", ""","top_p":0""");

        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Equal(HttpStatusCode.OK, clamped);
        Assert.Equal(0.001, sent.GetProperty("top_p").GetDouble());
    }

    [Fact]
    public async Task DeepInfraTopPZero_IsOutsideItsDocumentedRange()
    {
        var (status, _, answer) = await SendAsync("deepinfra-llama", ""","top_p":0""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("more than 0 and at most 1", answer);
    }

    [Fact]
    public async Task DeepInfraToolChoiceNamingAFunction_IsRefused()
    {
        var (status, sent, answer) = await SendAsync("deepinfra-llama",
            ""","tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(JsonValueKind.Undefined, sent.ValueKind);
        Assert.Equal("tool_choice", JsonDocument.Parse(answer).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task DeepInfraSystemAndDeveloperMessages_MergedIntoOne()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http, """
            {"model":"deepinfra-llama","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"},{"role":"developer","content":"Answer in French."},{"role":"user","content":"again"}]}
            """, requestId);
        var messages = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement.GetProperty("messages");

        Assert.Equal(["system", "user", "user"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()).ToList());
        Assert.Equal("Be brief.\n\nAnswer in French.", messages[0].GetProperty("content").GetString());
    }

    [Fact]
    public async Task TextParts_JoinedOnePerLine_ForAProviderThatTakesStrings()
    {
        var requestId = Sse.NewRequestId();
        await Sse.PostAsync(f.Gateway.Http, """
            {"model":"segmind-llama","messages":[{"role":"user","content":[{"type":"text","text":"first"},{"type":"text","text":"second"}]}]}
            """, requestId);

        var content = JsonDocument.Parse((await f.Simulator.SingleRequestAsync(requestId)).Body).RootElement.GetProperty("messages")[0].GetProperty("content").GetString();
        Assert.Equal("first\nsecond", content);
    }

    [Fact]
    public async Task TemperatureInRange_PassedAsSent()
    {
        var (_, hive, _) = await SendAsync("hive-llama", ""","temperature":0.3,"top_p":0.9""");
        var (_, deepinfra, _) = await SendAsync("deepinfra-llama", ""","temperature":1.7""");

        Assert.Equal(0.3, hive.GetProperty("temperature").GetDouble());
        Assert.Equal(0.9, hive.GetProperty("top_p").GetDouble());
        Assert.Equal(1.7, deepinfra.GetProperty("temperature").GetDouble());
    }

    [Theory]
    [InlineData("hive-llama", ""","seed":7""", "seed")]
    [InlineData("hive-llama", ""","stop":"END" """, "stop")]
    [InlineData("hive-llama", ""","n":2""", "n")]
    [InlineData("hive-llama", ""","top_k":40""", "top_k")]
    [InlineData("hive-llama", ""","tools":[{"type":"function","function":{"name":"f"}}]""", "tools")]
    [InlineData("segmind-llama", ""","response_format":{"type":"json_object"}""", "response_format")]
    [InlineData("segmind-llama", ""","logprobs":true""", "logprobs")]
    public async Task UnsupportedParameter_RejectedNamingIt(string model, string extra, string param)
    {
        var (status, sent, answer) = await SendAsync(model, extra);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(JsonValueKind.Undefined, sent.ValueKind);
        var error = JsonDocument.Parse(answer).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("unsupported_parameter", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnsupportedParameter_DroppedWhenDeploymentOptsIn()
    {
        var (status, sent, _) = await SendAsync("hive-lenient", ""","seed":7,"top_k":40,"stop":"x" """);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(sent.TryGetProperty("seed", out _));
        Assert.False(sent.TryGetProperty("top_k", out _));
    }

    [Fact]
    public async Task DefaultValuedAndMetadataParameters_DroppedWhereUnsupported()
    {
        var (status, sent, _) = await SendAsync("hive-llama",
            ""","n":1,"presence_penalty":0,"frequency_penalty":0,"logprobs":false,"user":"u-1","response_format":{"type":"text"}""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(["messages", "model"], sent.EnumerateObject().Select(p => p.Name).Order().ToList());
    }

    [Fact]
    public async Task DeepInfra_PassesEverythingIncludingItsOwnParameters()
    {
        var (status, sent, _) = await SendAsync("deepinfra-llama",
            ""","seed":7,"stop":["x"],"top_k":40,"repetition_penalty":1.1,"user":"u-1","presence_penalty":0.5""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(7, sent.GetProperty("seed").GetInt32());
        Assert.Equal(40, sent.GetProperty("top_k").GetInt32());
        Assert.Equal(1.1, sent.GetProperty("repetition_penalty").GetDouble());
        Assert.Equal("u-1", sent.GetProperty("user").GetString());
        Assert.Equal(0.5, sent.GetProperty("presence_penalty").GetDouble());
        Assert.Equal("x", sent.GetProperty("stop")[0].GetString());
    }

    [Fact]
    public async Task DeepInfraStream_AlwaysAsksForUsage()
    {
        var (_, sent, _) = await SendAsync("deepinfra-llama", ""","stream":true""");

        Assert.True(sent.GetProperty("stream").GetBoolean());
        Assert.True(sent.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
    }

    [Fact]
    public async Task Segmind_StreamingClient_UpstreamAskedWithoutStream()
    {
        var (status, sent, answer) = await SendAsync("segmind-llama", ""","stream":true""");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(sent.TryGetProperty("stream", out _));
        Assert.EndsWith("data: [DONE]\n\n", answer);
    }

    [Fact]
    public async Task HiveImagePart_RejectedNamingIt()
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(f.Gateway.Http, """
            {"model":"hive-llama","messages":[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"http://x/y.png"}}]}]}
            """, requestId);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("messages[0].content[1].type", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task HiveToolMessage_RejectedNamingIt()
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http, """
            {"model":"hive-llama","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c1","content":"42"}]}
            """);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("messages[1].role", JsonDocument.Parse(body).RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task DeploymentCannotHonour_NextDeploymentServes()
    {
        // Hive (first) cannot take a seed; DeepInfra (second) can, so it serves the request.
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Models"]!["seed-llama"] = TestConfig.Model(("hive", "meta-llama/llama-3.2-1b-instruct"), ("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        await using var gateway = await GatewayHost.StartAsync(config);
        var requestId = Sse.NewRequestId();
        var (response, _) = await Sse.PostAsync(gateway.Http,
            """{"model":"seed-llama","seed":3,"messages":[{"role":"user","content":"x"}]}""", requestId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("deepinfra", (await f.Simulator.SingleRequestAsync(requestId)).Provider);
    }
}
