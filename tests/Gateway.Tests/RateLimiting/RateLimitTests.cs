using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.RateLimiting;

public sealed class InMemoryRateLimitTests(InMemoryRateLimitFixture f) : RateLimitTests(f), IClassFixture<InMemoryRateLimitFixture>;

public sealed class RedisRateLimitTests(RedisRateLimitFixture f) : RateLimitTests(f), IClassFixture<RedisRateLimitFixture>;

/// <summary>Limits hold exactly, whatever the number of replicas (issue 4). Runs against both engines.</summary>
public abstract class RateLimitTests(RateLimitFixture f)
{
    /// <summary>Fires <paramref name="count"/> requests at once across the replicas through the OpenAI SDK.</summary>
    private async Task<List<(int Status, ClientResultException? Error)>> BurstAsync(string key, int count, string prompt, int? maxTokens = null,
        string model = "deepinfra-llama")
    {
        var clients = Enumerable.Range(0, f.Replicas.Count).Select(i => f.Chat(i, key, model)).ToList();
        var options = new ChatCompletionOptions { MaxOutputTokenCount = maxTokens };
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, count).Select(async i =>
        {
            await start.WaitAsync();
            try
            {
                await clients[i % clients.Count].CompleteChatAsync([new UserChatMessage(prompt)], options);
                return (200, (ClientResultException?)null);
            }
            catch (ClientResultException ex)
            {
                return (ex.Status, ex);
            }
        }).ToList();
        start.Release(count);
        return [.. await Task.WhenAll(tasks)];
    }

    /// <summary>
    /// A burst whose requests stay in flight for a while (a per-run simulator knob, so the prompt,
    /// and with it the token estimate, stays "x"): no settlement frees capacity during the burst.
    /// Tests of one class run one after another, so the knob does not leak into another test.
    /// </summary>
    private async Task<List<(int Status, ClientResultException? Error)>> SlowBurstAsync(string key, int count, int? maxTokens)
    {
        await f.Simulator.SetFaultsAsync("latency_ms=5000");
        try
        {
            return await BurstAsync(key, count, "x", maxTokens);
        }
        finally
        {
            await f.Simulator.SetFaultsAsync(null);
        }
    }

    private static string ErrorType(ClientResultException ex) =>
        JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error").GetProperty("type").GetString()!;

    [Fact]
    public async Task RequestLimit_300ConcurrentAgainst100_AdmitsExactly100()
    {
        var results = await BurstAsync("requests", 300, "x [sim latency_ms=200]");

        Assert.Equal(100, results.Count(r => r.Status == 200));
        var rejected = results.Where(r => r.Status != 200).ToList();
        Assert.Equal(200, rejected.Count);
        Assert.All(rejected, r =>
        {
            Assert.Equal(429, r.Status);
            Assert.Equal("requests", ErrorType(r.Error!));
            var headers = r.Error!.GetRawResponse()!.Headers;
            Assert.True(headers.TryGetValue("retry-after", out var retry) && int.Parse(retry!, System.Globalization.CultureInfo.InvariantCulture) >= 1);
            Assert.True(headers.TryGetValue("retry-after-ms", out _));
        });
    }

    [Fact]
    public async Task TokenLimit_ReservesPromptPlusMaxTokens_AdmitsExactly100()
    {
        // "x" is estimated at 8 prompt tokens; with max_tokens 92 each request reserves 100 of 10,000.
        var results = await SlowBurstAsync("tokens", 300, maxTokens: 92);

        Assert.Equal(100, results.Count(r => r.Status == 200));
        Assert.All(results.Where(r => r.Status != 200), r =>
        {
            Assert.Equal(429, r.Status);
            Assert.Equal("tokens", ErrorType(r.Error!));
        });
    }

    [Fact]
    public async Task Budget_ReservesWorstCaseCost_AdmitsExactly100()
    {
        // No max_tokens: the configured default (92) is reserved; 196 micro-dollars each, 19,600 in the budget.
        var results = await SlowBurstAsync("budget", 300, maxTokens: null);

        Assert.Equal(100, results.Count(r => r.Status == 200));
        Assert.All(results.Where(r => r.Status != 200), r =>
        {
            Assert.Equal(429, r.Status);
            Assert.Equal("insufficient_quota", ErrorType(r.Error!));
            Assert.Contains("insufficient_quota", r.Error!.GetRawResponse()!.Content.ToString());
        });
    }

    [Fact]
    public async Task InFlightLimit_HoldsUnderConcurrency_AndFreesWhenRequestsEnd()
    {
        var results = await BurstAsync("inflight", 60, "x [sim latency_ms=4000]");

        Assert.Equal(10, results.Count(r => r.Status == 200));
        Assert.All(results.Where(r => r.Status != 200), r => Assert.Equal(429, r.Status));

        // The ten have finished: their slots are free again.
        await Infrastructure.Eventually.TrueAsync(async () => (await BurstAsync("inflight", 10, "x")).All(r => r.Status == 200));
    }

    [Fact]
    public async Task PerModelLimit_AppliesOnTopOfKeyLimit()
    {
        var hive = await BurstAsync("model", 10, "x", model: "hive-llama");
        var deepinfra = await BurstAsync("model", 10, "x", model: "deepinfra-llama");

        Assert.Equal(3, hive.Count(r => r.Status == 200));
        Assert.Equal(10, deepinfra.Count(r => r.Status == 200));
    }

    [Fact]
    public async Task Headers_OnEveryAnswer_CountDown()
    {
        using var http = f.Http(0, "headers");
        var (first, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
        var (second, body) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x"}]}""");

        Assert.Equal("50", Header(first, "x-ratelimit-limit-requests"));
        Assert.Equal("49", Header(first, "x-ratelimit-remaining-requests"));
        Assert.Equal("48", Header(second, "x-ratelimit-remaining-requests"));
        Assert.Equal("100000", Header(first, "x-ratelimit-limit-tokens"));
        Assert.True(long.Parse(Header(first, "x-ratelimit-remaining-tokens"), System.Globalization.CultureInfo.InvariantCulture) < 100_000);
        Assert.Matches(@"^(\d+m)?\d+(\.\d+)?s$|^\d+ms$", Header(first, "x-ratelimit-reset-requests"));
        Assert.Matches(@"^(\d+m)?\d+(\.\d+)?s$|^\d+ms$", Header(first, "x-ratelimit-reset-tokens"));
        Assert.EndsWith("data: [DONE]\n\n", body);
    }

    [Fact]
    public async Task Settlement_ReturnsUnusedReservation()
    {
        using var http = f.Http(0, "settle");
        // Reserves 8 + 92 = 100; the simulator reports 1 prompt and 2 completion tokens.
        var (first, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal("900", Header(first, "x-ratelimit-remaining-tokens"));

        await Infrastructure.Eventually.TrueAsync(async () =>
        {
            var (next, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","max_tokens":1,"messages":[{"role":"user","content":"x"}]}""");
            // 1000 - 3 (settled) - 9 (this one's reservation) - whatever earlier probes left.
            var remaining = long.Parse(Header(next, "x-ratelimit-remaining-tokens"), System.Globalization.CultureInfo.InvariantCulture);
            return remaining > 900;
        });
    }

    [Fact]
    public async Task Rejection_SeenThroughSdk_IsRateLimitError()
    {
        var chat = f.Chat(0, "sdk");
        await chat.CompleteChatAsync([new UserChatMessage("one")]);
        await chat.CompleteChatAsync([new UserChatMessage("two")]);

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("three")]));
        Assert.Equal(429, ex.Status);
        var error = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.Equal("0", ex.GetRawResponse()!.Headers.TryGetValue("x-ratelimit-remaining-requests", out var r) ? r : null);
    }

    [Fact]
    public async Task ProviderLimit_Shed_OnlyItsRateReachesTheProvider()
    {
        var results = await BurstAsync("pacing", 20, "paced shed", model: "paced-shed");

        Assert.Equal(5, results.Count(r => r.Status == 200));
        Assert.All(results.Where(r => r.Status != 200), r => Assert.Equal(429, r.Status));
    }

    [Fact]
    public async Task ProviderLimit_Queue_PacesRequestsToItsRate()
    {
        var marker = "paced-queue-" + Guid.NewGuid().ToString("N");
        var results = await BurstAsync("pacing", 12, marker, model: "paced-queue");

        Assert.All(results, r => Assert.Equal(200, r.Status));
        var all = await f.Simulator.Control.GetFromJsonAsync<List<ProviderSimulator.LoggedRequest>>("/_sim/requests");
        var times = all!.Where(r => r.Body.Contains(marker, StringComparison.Ordinal)).Select(r => r.ReceivedAt).Order().ToList();
        Assert.Equal(12, times.Count);
        // 12 requests at 5 per second are admitted in three waves, at least a second apart; arrival
        // times at the simulator jitter under a loaded test run, so only the overall spread is pinned.
        Assert.True(times[^1] - times[0] > TimeSpan.FromSeconds(1.2), $"12 requests arrived within {(times[^1] - times[0]).TotalMilliseconds} ms");
    }

    private static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new Xunit.Sdk.XunitException($"no {name} header");

}
