using System.ClientModel;
using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Chat;

namespace Gateway.Tests.Endpoints;

/// <summary>Every failure comes back as an OpenAI error the SDKs understand (issue 2, "Errors").</summary>
public sealed class ErrorTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData("{not json", null, "invalid_json")]
    [InlineData("", null, "invalid_json")]
    [InlineData("[1,2]", null, "invalid_json")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model", "missing_required_parameter")]
    [InlineData("""{"model":"hive-llama"}""", "messages", "missing_required_parameter")]
    [InlineData("""{"model":"hive-llama","messages":[]}""", "messages", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":"hi"}""", "messages", "invalid_type")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "temperature", "invalid_type")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"temperature":3}""", "temperature", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"top_p":1.5}""", "top_p", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", "stream", "invalid_type")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}""", "stream_options", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"},{"role":"robot","content":"y"}]}""", "messages[1].role", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user"}]}""", "messages[0].content", "missing_required_parameter")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":42}]}""", "messages[0].content", "invalid_type")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages[0].content[0].text", "missing_required_parameter")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":[]}]}""", "messages[0].content", "invalid_value")]
    [InlineData("""{"model":"hive-llama","messages":[null]}""", "messages[0]", "invalid_type")]
    [InlineData("""{"model":"hive-llama","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}""", "stop", "invalid_value")]
    [InlineData("""{"model":42,"messages":[{"role":"user","content":"x"}]}""", "model", "invalid_type")]
    public async Task BadRequest_Returns400NamingTheParameter(string body, string? param, string code)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = AssertOpenAiError(text, "invalid_request_error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task MissingKey_Returns401()
    {
        using var http = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        var (response, text) = await Sse.PostAsync(http, """{"model":"hive-llama","messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("missing_api_key", AssertOpenAiError(text, "invalid_request_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task UnknownKey_Returns401ThroughSdk()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat("hive-llama", key: "sk-not-a-key").CompleteChatAsync([new UserChatMessage("x")]));

        Assert.Equal(401, ex.Status);
        var text = ex.GetRawResponse()!.Content.ToString();
        Assert.Equal("invalid_api_key", AssertOpenAiError(text, "invalid_request_error").GetProperty("code").GetString());
        Assert.DoesNotContain("sk-not-a-key", text);
    }

    [Fact]
    public async Task UnknownModel_Returns404ModelNotFound()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat("gpt-17").CompleteChatAsync([new UserChatMessage("x")]));

        Assert.Equal(404, ex.Status);
        var error = AssertOpenAiError(ex.GetRawResponse()!.Content.ToString(), "invalid_request_error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task ModelTheKeyMayNotUse_Returns404()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat("hive-llama", TestConfig.LimitedKey).CompleteChatAsync([new UserChatMessage("x")]));

        Assert.Equal(404, ex.Status);
    }

    [Fact]
    public async Task BodyOverLimit_Returns413()
    {
        var big = new string('a', 70 * 1024);
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"hive-llama","messages":[{"role":"user","content":"{{big}}"}]}""");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("request_too_large", AssertOpenAiError(text, "invalid_request_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ChunkedBodyOverLimit_Returns413()
    {
        var big = new string('a', 70 * 1024);
        using var content = new StreamContent(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(
            $$"""{"model":"hive-llama","messages":[{"role":"user","content":"{{big}}"}]}""")));
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        var response = await f.Gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Theory]
    [InlineData("deepinfra-wrong-key", "deepinfra-wrong-key")]
    [InlineData("hive-wrong-key", "hive-wrong-key")]
    [InlineData("segmind-wrong-key", "segmind-wrong-key")]
    public async Task ProviderRejectsOurKey_Returns502NamingNeitherProviderNorKey(string model, string provider)
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat(model).CompleteChatAsync([new UserChatMessage("x")]));

        Assert.Equal(502, ex.Status);
        var text = ex.GetRawResponse()!.Content.ToString();
        var error = AssertOpenAiError(text, "server_error");
        Assert.Equal("upstream_authentication_failed", error.GetProperty("code").GetString());
        // Which provider, and its own words, are for the operator's log, not for clients.
        Assert.DoesNotContain(provider, text);
        Assert.DoesNotContain("wrong-provider-secret", text);
        Assert.DoesNotContain("wrong-provider-secret", string.Join(",", ex.GetRawResponse()!.Headers.Select(h => h.Value)));
    }

    [Theory]
    [InlineData("hive-llama")]
    [InlineData("deepinfra-llama")]
    [InlineData("segmind-llama")]
    public async Task ProviderRateLimits_Returns429WithItsRetryDelay(string model)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x [sim status=429 retry_after=7]"}]}""");

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var error = AssertOpenAiError(text, "requests");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        var retryAfter = int.Parse(response.Headers.GetValues("retry-after").Single(), System.Globalization.CultureInfo.InvariantCulture);
        // Segmind gives an instant rather than a delay; a second may pass between its clock and ours.
        Assert.InRange(retryAfter, 6, 7);
        Assert.True(long.Parse(response.Headers.GetValues("retry-after-ms").Single(), System.Globalization.CultureInfo.InvariantCulture) > 5000);
    }

    [Theory]
    [InlineData("hive-llama", 500)]
    [InlineData("deepinfra-llama", 503)]
    [InlineData("segmind-llama", 500)]
    public async Task ProviderServerError_Returns502WithTheGatewaysOwnMessage(string model, int status)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x [sim status={{status}} error_message=\"engine on fire\"]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = AssertOpenAiError(text, "server_error");
        Assert.Equal("upstream_error", error.GetProperty("code").GetString());
        // A provider's 5xx text can name its hosts and accounts: it goes to the log only.
        Assert.Equal("The model's provider failed. Retry shortly.", error.GetProperty("message").GetString());
        Assert.DoesNotContain("engine on fire", text);
        Assert.DoesNotContain(model.Split('-')[0], text);
    }

    [Theory]
    [InlineData("hive-llama", 400, "html", "HTML error page")]
    [InlineData("deepinfra-llama", 422, "native", "messages: bad thing")]
    [InlineData("hive-llama", 400, "native", "bad thing")]
    [InlineData("segmind-llama", 400, "native", "bad thing")]
    [InlineData("deepinfra-llama", 400, "malformed", "{\"oops\":")]
    [InlineData("deepinfra-llama", 400, "empty", "(empty body)")]
    public async Task ProviderErrorShapes_AreReadIntoTheMessage(string model, int status, string shape, string expected)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x [sim status={{status}} body={{shape}} error_message=\"bad thing\"]"}]}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = AssertOpenAiError(text, "invalid_request_error");
        Assert.Equal("upstream_rejected_request", error.GetProperty("code").GetString());
        Assert.Contains(expected, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task SegmindMethodNotAllowedHtml_Returns502()
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"segmind-llama","messages":[{"role":"user","content":"x [sim status=405]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_misconfigured", AssertOpenAiError(text, "server_error").GetProperty("code").GetString());
        Assert.DoesNotContain("html", text, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("hive-llama", 405)]
    [InlineData("segmind-llama", 406)]
    [InlineData("deepinfra-llama", 402)]
    public async Task ProviderOutOfBalance_Returns502Quota(string model, int status)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x [sim status={{status}}]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_quota_exhausted", AssertOpenAiError(text, "server_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ProviderDoesNotKnowConfiguredModel_Returns502()
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"misconfigured-llama","messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_misconfigured", AssertOpenAiError(text, "server_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ProviderUnreachable_Returns502()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat("unreachable-llama").CompleteChatAsync([new UserChatMessage("x")]));

        Assert.Equal(502, ex.Status);
        Assert.Equal("upstream_unreachable",
            AssertOpenAiError(ex.GetRawResponse()!.Content.ToString(), "server_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ProviderTooSlow_Returns504()
    {
        // The slow provider's response timeout is 1 s; the simulator waits 3 s before answering.
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            f.Gateway.Chat("slow-llama").CompleteChatAsync([new UserChatMessage("x [sim latency_ms=3000]")]));

        Assert.Equal(504, ex.Status);
        Assert.Equal("upstream_timeout",
            AssertOpenAiError(ex.GetRawResponse()!.Content.ToString(), "server_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ProviderConnectionReset_Returns502()
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x [sim reset=1]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        AssertOpenAiError(text, "server_error");
    }

    [Theory]
    [InlineData("deepinfra-llama")]
    [InlineData("segmind-llama")]
    public async Task ProviderSendsMalformedJson_Returns502(string model)
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","messages":[{"role":"user","content":"x [sim malformed=1]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_invalid_response", AssertOpenAiError(text, "server_error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task ProviderTruncatesJsonBody_Returns502()
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x [sim truncate_after=20]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        AssertOpenAiError(text, "server_error");
    }

    [Theory]
    [InlineData("hive-llama", "error_event_after=2", "upstream_error")]
    // A connection reset can discard bytes not yet read, so the reset comes after a pause.
    [InlineData("deepinfra-llama", "truncate_after=2 chunk_delay_ms=300", "upstream_stream_interrupted")]
    [InlineData("hive-llama", "malformed=1", "upstream_invalid_response")]
    public async Task StreamFailsAfterStart_EndsWithErrorEventAndNoDone(string model, string knob, string code)
    {
        var (response, body) = await Sse.PostAsync(f.Gateway.Http,
            $$"""{"model":"{{model}}","stream":true,"messages":[{"role":"user","content":"x [sim words=10 {{knob}}]"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var data = Sse.DataLines(body);
        Assert.DoesNotContain("[DONE]", data);
        var error = JsonDocument.Parse(data[^1]).RootElement.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.True(data.Count >= 2, "content chunks came before the error");
    }

    [Fact]
    public async Task StreamFailsAfterStart_SdkSeesNoFinish()
    {
        var chat = f.Gateway.Chat("hive-llama");
        var updates = new List<StreamingChatCompletionUpdate>();
        Exception? raised = null;
        try
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("x [sim words=10 error_event_after=3]")]))
            {
                updates.Add(update);
            }
        }
        catch (Exception ex)
        {
            raised = ex;
        }

        // The text before the failure arrived; the answer never claims to be complete: either the
        // SDK raises on the error event, or it ends without a finish reason or usage.
        Assert.Equal("lorem ipsum dolor", string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.True(raised is not null || updates.TrueForAll(u => u.FinishReason is null && u.Usage is null),
            "the SDK reported a complete answer for a failed stream");
    }

    [Fact]
    public async Task StreamFailsBeforeFirstChunk_IsAnOrdinaryError()
    {
        var (response, text) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim truncate_after=0]"}]}""");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        AssertOpenAiError(text, "server_error");
    }

    [Fact]
    public async Task StreamGoesSilent_EndsWithTimeoutEvent()
    {
        // Idle timeout of the slow provider is 1 s; chunks come every 3 s.
        var (_, body) = await Sse.PostAsync(f.Gateway.Http,
            """{"model":"slow-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=5 chunk_delay_ms=3000]"}]}""");

        var data = Sse.DataLines(body);
        Assert.Equal("upstream_timeout", JsonDocument.Parse(data[^1]).RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task StreamQuietButPinging_IsAlive()
    {
        // The stream's idle limit (2.75 s) runs on a clock only the test moves. Between the two chunks the provider sends
        // three SSE comments, each when the test opens its gate; the test moves the clock 2 s before each, 6 s in all
        // without a chunk. Each ping must re-arm the idle limit (the clock says when one was last armed), or the next move
        // ends the stream. No step waits on the real clock, so a busy machine cannot fail it.
        var idle = TimeSpan.FromSeconds(2.75);
        var config = TestConfig.Standard(f.Simulator.BaseUrl);
        config["Providers"]!["deepinfra-quiet"]!["StreamIdleTimeoutSeconds"] = idle.TotalSeconds;
        var clock = new WatchedClock();
        await using var gateway = await GatewayHost.StartAsync(config, b => b.Services.AddSingleton<TimeProvider>(clock));
        var hold = $"pings-{Guid.NewGuid():N}";
        using var stream = await OpenStream.StartAsync(gateway.BaseUrl, TestConfig.Key,
            $$"""{"model":"quiet-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=2 ping_hold={{hold}} pings=3]"}]}""",
            Sse.NewRequestId());
        Assert.StartsWith("data: ", await stream.ReadLineAsync());

        for (var ping = 1; ping <= 3; ping++)
        {
            clock.Advance(TimeSpan.FromSeconds(2));
            var now = clock.GetUtcNow();
            await f.Simulator.OpenGateAsync($"{hold}.{ping}");
            await Eventually.TrueAsync(() => Task.FromResult(clock.LastSet(idle) >= now), TimeSpan.FromSeconds(15),
                $"ping {ping} did not re-arm the stream's idle limit");
        }

        var rest = await stream.ReadToEndAsync();
        // The rest begins with the blank line that ended the first event.
        Assert.Equal("[DONE]", Sse.DataLines(rest.TrimStart())[^1]);
        Assert.DoesNotContain("ping", rest);
        Assert.DoesNotContain("error", rest);
    }

    [Theory]
    [InlineData("GET", "/v1/chat/completions", 405)]
    [InlineData("POST", "/v1/nothing", 404)]
    public async Task UnknownRouteOrMethod_IsAnOpenAiError(string method, string path, int status)
    {
        var response = await f.Gateway.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(status, (int)response.StatusCode);
        AssertOpenAiError(await response.Content.ReadAsStringAsync(), "invalid_request_error");
    }

    internal static JsonElement AssertOpenAiError(string body, string type)
    {
        var root = JsonDocument.Parse(body).RootElement;
        var error = root.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }
}
