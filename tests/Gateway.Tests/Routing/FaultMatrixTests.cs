using System.ClientModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.Routing;

/// <summary>
/// Every provider kind against every failure class, end to end through the OpenAI SDK: what the client sees, which
/// deployments were tried (the simulator's log of the request id), and the gateway's metrics (attempts, retries,
/// fallbacks, as its instruments record them; the Prometheus text of the same instruments has tests of its own). Each (kind, failure) pair has its own provider entry and model, so the metrics of one pair are its own.
/// Each model is [the failing deployment, a healthy fallback at another provider]. Default retry policy (2 retries,
/// faster backoff), circuits off (they have their own tests: here the same deployments fail on purpose, case after case).
/// </summary>
public sealed class FaultMatrixTests(FaultMatrixTests.Fixture f) : IClassFixture<FaultMatrixTests.Fixture>
{
    private sealed record Kind(string Name, string SimulatorName, string Upstream, string UnknownUpstream, string KeyEnv, string Fallback,
        string FallbackUpstream, string FallbackSimulatorName);

    private static readonly Kind[] Kinds =
    [
        new("hive-v3", "hive-v3", "meta-llama/llama-3.2-1b-instruct", "no-such/model", "GW_TEST_HIVE_KEY",
            "deepinfra", "meta-llama/Meta-Llama-3.1-70B-Instruct", "deepinfra"),
        new("deepinfra", "deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct", "no-such/model", "GW_TEST_DEEPINFRA_KEY",
            "segmind", "llama-v3p1-70b-instruct", "segmind"),
        new("segmind", "segmind", "llama-v3p1-8b-instruct", "no-such-slug", "GW_TEST_SEGMIND_KEY",
            "deepinfra", "meta-llama/Meta-Llama-3.1-70B-Instruct", "deepinfra"),
        new("hive-v2", "hive-v2", "Llama3_2_1B_Instruct", "", "GW_TEST_HIVE_V2_KEY",
            "deepinfra", "meta-llama/Meta-Llama-3.1-70B-Instruct", "deepinfra"),
    ];

    public static readonly string[] Failures =
        ["connect_refused", "reset", "server_error", "server_error_recovers", "rate_limited", "unknown_model", "slow_headers", "stalled_stream"];

    /// <summary>
    /// Pairs that cannot happen, left out: a Hive V2 request names no model (the key's project does), so no "unknown model";
    /// Segmind and Hive V2 never stream upstream (Segmind has no streaming, V2 answers by callback), so no stalled stream.
    /// </summary>
    private static bool Applies(string kind, string failure) =>
        !(kind == "hive-v2" && failure == "unknown_model") && !(kind is "segmind" or "hive-v2" && failure == "stalled_stream");

    public static IEnumerable<object[]> Cases() =>
        from k in Kinds from failure in Failures where Applies(k.Name, failure) select new object[] { k.Name, failure };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Failure_IsRiddenOutOrReportedAsDocumented(string kindName, string failure)
    {
        var kind = Kinds.Single(k => k.Name == kindName);
        var provider = ProviderName(kind, failure);
        var deploymentId = provider + "/" + (failure == "unknown_model" ? kind.UnknownUpstream : kind.Upstream);
        var requestId = Sse.NewRequestId();
        var chat = f.Gateway.Chat(ModelName(kind, failure), headers: new Dictionary<string, string> { ["x-request-id"] = requestId });
        var only = $"only={kind.SimulatorName}";
        var clock = Stopwatch.StartNew();

        if (failure == "stalled_stream")
        {
            // The first words arrive, then the provider goes silent beyond its 1 s idle timeout: the answer has begun, so no
            // other deployment can take over; the client gets an error instead of a finish.
            var (text, raised) = await StreamAsync(chat, $"x [sim {only} words=5 chunk_delay_ms=3000]");
            Assert.Equal("lorem", text.Trim());
            Assert.NotNull(raised);
            Assert.Equal([kind.SimulatorName], await TriedAsync(requestId));
            await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 0, retries: 0, fallbackReason: null, errorType: "upstream_timeout");
            return;
        }

        var prompt = failure switch
        {
            "reset" => $"hello [sim {only} reset=1]",
            "server_error" => $"hello [sim {only} status=503]",
            "server_error_recovers" => $"hello [sim {only} status=503 fail_first=1]",
            "rate_limited" => $"hello [sim {only} status=429 retry_after=1 fail_first=1]",
            "slow_headers" => $"hello [sim {only} latency_ms=3000]",
            _ => "hello",
        };
        var completion = await chat.CompleteChatAsync([new UserChatMessage(prompt)]);
        Assert.Equal("echo: hello", completion.Value.Content[0].Text);
        var tried = await TriedAsync(requestId);
        var faulty = kind.SimulatorName;
        var fallback = kind.FallbackSimulatorName;

        switch (failure)
        {
            case "connect_refused":
                // Refused connections are retried twice (nothing reaches the simulator), then the fallback answers.
                Assert.Equal([fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 3, succeeded: 0, retries: 2, fallbackReason: "upstream_unreachable");
                break;
            case "reset":
                Assert.Equal([faulty, faulty, faulty, fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 3, succeeded: 0, retries: 2, fallbackReason: "upstream_unreachable");
                break;
            case "server_error":
                Assert.Equal([faulty, faulty, faulty, fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 3, succeeded: 0, retries: 2, fallbackReason: "upstream_error");
                break;
            case "server_error_recovers":
                // The retry at the same deployment answers: no fallback.
                Assert.Equal([faulty, faulty], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 1, retries: 1, fallbackReason: null);
                break;
            case "rate_limited" when kind.Name == "hive-v2":
                // Hive V2's documents give no retry-after: without one, a 429 goes to the next deployment at once.
                Assert.Equal([faulty, fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 0, retries: 0, fallbackReason: "rate_limit_exceeded");
                break;
            case "rate_limited":
                // retry-after 1 s (Segmind: x-rate-limit-reset-at-utc) is within Retry:MaxRetryAfterSeconds: waited for, then
                // the same deployment answers.
                Assert.Equal([faulty, faulty], tried);
                Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"answered after {clock.Elapsed}, before the retry-after");

                await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 1, retries: 1, fallbackReason: null);
                break;
            case "unknown_model":
                // The provider does not serve the configured model: a deployment fault, not retried, the fallback answers.
                Assert.Equal([faulty, fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 0, retries: 0, fallbackReason: "upstream_misconfigured");
                break;
            case "slow_headers":
                // No headers within the provider's 1 s response timeout: not retried there (slow stays slow), next deployment.
                Assert.Equal([faulty, fallback], tried);
                await ExpectMetricsAsync(provider, deploymentId, failed: 1, succeeded: 0, retries: 0, fallbackReason: "upstream_timeout");
                break;
            default:
                throw new InvalidOperationException(failure);
        }
    }

    [Fact]
    public async Task EveryDeploymentFailing_TheClientGetsTheLastError_AfterRetriesAtEach()
    {
        var requestId = Sse.NewRequestId();
        var chat = f.Gateway.Chat("both-failing", headers: new Dictionary<string, string> { ["x-request-id"] = requestId });
        var error = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("x [sim status=503]")]));

        Assert.Equal(502, error.Status);
        Assert.Contains("upstream_error", error.Message);
        Assert.Equal(["deepinfra", "deepinfra", "deepinfra", "segmind", "segmind", "segmind"], await TriedAsync(requestId));
    }

    private static async Task<(string Text, Exception? Raised)> StreamAsync(ChatClient chat, string prompt)
    {
        var text = new System.Text.StringBuilder();
        try
        {
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(prompt)]))
            {
                foreach (var part in update.ContentUpdate)
                {
                    text.Append(part.Text);
                }

                if (update.FinishReason is not null)
                {
                    return (text.ToString(), null);
                }
            }

            // The stream ended without a finish: as good as an error for the client.
            return (text.ToString(), new InvalidOperationException("no finish"));
        }
        catch (Exception ex)
        {
            return (text.ToString(), ex);
        }
    }

    private async Task<string[]> TriedAsync(string requestId) =>
        [.. (await f.Simulator.RequestsAsync(requestId)).Where(r => r.Method == "POST").OrderBy(r => r.Sequence).Select(r => r.Provider)];

    private async Task ExpectMetricsAsync(string provider, string deployment, int failed, int succeeded, int retries, string? fallbackReason,
        string? errorType = null)
    {
        var expected = (Failed: failed, Succeeded: succeeded, Retries: retries, Fallbacks: fallbackReason is null ? 0 : 1, FallbackReason: fallbackReason,
            ErrorsOfType: errorType is null ? 0 : 1);
        var patience = Stopwatch.StartNew();
        while (true)
        {
            // Attempts are counted as they end, which can be a moment after the client has its answer.
            var m = f.Metrics;
            var reasons = new[] { "upstream_unreachable", "upstream_error", "rate_limit_exceeded", "upstream_misconfigured", "upstream_timeout" }
                .Where(r => m.Sum("gateway.fallbacks", ("gen_ai.system", provider), ("gateway.fallback.reason", r)) > 0).ToList();
            var actual = (
                Failed: (int)m.Sum("gateway.upstream.attempts", ("gateway.deployment", deployment), ("gateway.attempt.outcome", "failed")),
                Succeeded: (int)m.Sum("gateway.upstream.attempts", ("gateway.deployment", deployment), ("gateway.attempt.outcome", "succeeded")),
                Retries: (int)m.Sum("gateway.upstream.retries", ("gen_ai.system", provider)),
                Fallbacks: (int)m.Sum("gateway.fallbacks", ("gen_ai.system", provider)),
                FallbackReason: reasons.Count == 1 ? reasons[0] : reasons.Count == 0 ? null : string.Join("+", reasons),
                ErrorsOfType: errorType is null ? 0 : (int)m.Sum("gateway.upstream.errors", ("gen_ai.system", provider), ("error.type", errorType)));
            if (actual == expected || patience.Elapsed > TimeSpan.FromSeconds(10))
            {
                Assert.Equal(expected, actual);
                return;
            }

            await Task.Delay(100);
        }
    }

    private static string ProviderName(Kind kind, string failure) => $"{kind.Name}-{failure}";

    private static string ModelName(Kind kind, string failure) => $"m-{kind.Name}-{failure}";

    public sealed class Fixture : IAsyncLifetime
    {
        public SimulatorHost Simulator { get; private set; } = null!;
        public GatewayHost Gateway { get; private set; } = null!;
        public HostMetrics Metrics { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Simulator = await SimulatorHost.StartAsync();
            var port = FreePort.Get();
            Gateway = await GatewayHost.StartAsync(Config(Simulator.BaseUrl, $"http://127.0.0.1:{port}"), port);
            Metrics = new HostMetrics(Gateway.Services);
        }

        public async Task DisposeAsync()
        {
            Metrics.Dispose();
            await Gateway.DisposeAsync();
            await Simulator.DisposeAsync();
        }

        private static JsonObject Config(Uri simulator, string publicBaseUrl)
        {
            var sim = simulator.ToString().TrimEnd('/');
            var config = TestConfig.Standard(simulator).WithHiveV2(simulator, publicBaseUrl);
            config["Routing"] = new JsonObject
            {
                ["Retry"] = new JsonObject { ["BaseDelayMilliseconds"] = 50, ["MaxDelayMilliseconds"] = 200 },
                ["Circuit"] = new JsonObject { ["FailureThreshold"] = 0 },
            };
            var providers = config["Providers"]!.AsObject();
            var models = config["Models"]!.AsObject();
            foreach (var kind in Kinds)
            {
                foreach (var failure in Failures.Where(x => Applies(kind.Name, x)))
                {
                    var slow = failure is "slow_headers" or "stalled_stream";
                    var entry = TestConfig.Provider(kind.Name, failure == "connect_refused" ? "http://127.0.0.1:9" : sim, kind.KeyEnv,
                        responseTimeout: slow ? 1 : 10, idleTimeout: slow ? 1 : 10);
                    if (kind.Name == "hive-v2")
                    {
                        entry["CallbackWaitSeconds"] = 5;
                        entry["PollIntervalSeconds"] = 0.2;
                        entry["TaskTimeoutSeconds"] = 8;
                    }

                    providers[ProviderName(kind, failure)] = entry;
                    var upstream = failure == "unknown_model" ? kind.UnknownUpstream : kind.Upstream;
                    models[ModelName(kind, failure)] = TestConfig.Model((ProviderName(kind, failure), upstream), (kind.Fallback, kind.FallbackUpstream));
                }
            }

            models["both-failing"] = TestConfig.Model(("deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"), ("segmind", "llama-v3p1-8b-instruct"));
            return config;
        }
    }
}
