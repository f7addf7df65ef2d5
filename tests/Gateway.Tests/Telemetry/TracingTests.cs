using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Telemetry;

/// <summary>Traces as a collector receives them over OTLP/HTTP: the request span, its attempts, and what never leaves.</summary>
public sealed class TracingTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;
    private OtlpReceiver _collector = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        _collector = await OtlpReceiver.StartAsync();
        var config = TestConfig.Standard(_simulator.BaseUrl);
        _gateway = await GatewayHost.StartAsync(config,
            $"--OTEL_EXPORTER_OTLP_ENDPOINT={_collector.BaseUrl.ToString().TrimEnd('/')}",
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_BSP_SCHEDULE_DELAY=100",
            "--OTEL_METRIC_EXPORT_INTERVAL=500");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _collector.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Fact]
    public async Task IncomingTraceparent_RequestAndAttemptSpansJoinIt_AndNothingReachesTheProvider()
    {
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        const string parentSpan = "00f067aa0ba902b7";
        var requestId = Sse.NewRequestId();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"a secret prompt text"}]}"""),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{parentSpan}-01");
        request.Headers.Add("x-request-id", requestId);

        using var response = await _gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var spans = await _collector.WaitForTraceAsync(traceId, t => t.Exists(s => s.Name == "chat deepinfra-llama") && t.Exists(s => s.Name == "attempt deepinfra"));
        var server = Assert.Single(spans, s => s.Scope == "Microsoft.AspNetCore");
        Assert.Equal(parentSpan, server.ParentSpanId);
        var chat = Assert.Single(spans, s => s.Name == "chat deepinfra-llama");
        Assert.Equal(server.SpanId, chat.ParentSpanId);
        Assert.Equal("chat", chat["gen_ai.operation.name"]);
        Assert.Equal("deepinfra-llama", chat["gen_ai.request.model"]);
        Assert.Equal("deepinfra", chat["gen_ai.system"]);
        Assert.Equal("meta-llama/Meta-Llama-3.1-8B-Instruct", chat["gen_ai.response.model"]);
        Assert.Equal(4L, chat["gen_ai.usage.input_tokens"]); // the simulator counts words
        Assert.Equal(200L, chat["http.response.status_code"]);
        Assert.Equal("ok", chat["gateway.outcome"]);
        Assert.False(chat.Attributes.ContainsKey("gateway.key"));
        var attempt = Assert.Single(spans, s => s.Name == "attempt deepinfra");
        Assert.Equal(chat.SpanId, attempt.ParentSpanId);
        Assert.Equal(3, attempt.Kind); // SPAN_KIND_CLIENT
        Assert.Equal("deepinfra", attempt["gen_ai.system"]);
        Assert.Equal("Succeeded", attempt["gateway.attempt.outcome"]);

        // Prompt and completion text are never recorded; the trace stops at the gateway.
        Assert.DoesNotContain(spans.SelectMany(s => s.Attributes.Values), v => v is string text && (text.Contains("secret prompt") || text.Contains("echo:")));
        var upstream = await _simulator.SingleRequestAsync(requestId);
        Assert.DoesNotContain("traceparent", upstream.HeaderNames);
        Assert.DoesNotContain("tracestate", upstream.HeaderNames);
        Assert.DoesNotContain(upstream.HeaderNames, h => h.StartsWith("baggage", StringComparison.Ordinal) || h.StartsWith("request-id", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Fallback_EachAttemptHasItsSpan_TheFailedOneSaysWhy()
    {
        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent("""{"model":"fallback-llama","messages":[{"role":"user","content":"hi [sim status=503 only=deepinfra]"}]}"""),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");

        using var response = await _gateway.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var spans = await _collector.WaitForTraceAsync(traceId, t => t.Exists(s => s.Name == "attempt segmind") && t.Exists(s => s.Name.StartsWith("chat ", StringComparison.Ordinal)));
        var failed = Assert.Single(spans, s => s.Name == "attempt deepinfra");
        Assert.Equal("upstream_error", failed["gateway.fallback.reason"]);
        Assert.Equal(502L, failed["http.response.status_code"]);
        Assert.Equal("FailedBeforeResponse", failed["gateway.attempt.outcome"]);
        var served = Assert.Single(spans, s => s.Name == "attempt segmind");
        Assert.Equal(1L, served["gateway.deployment.index"]);
        Assert.Equal("segmind", Assert.Single(spans, s => s.Name == "chat fallback-llama")["gen_ai.system"]);
    }
}
