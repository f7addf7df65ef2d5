using System.ClientModel;
using System.Diagnostics;
using System.Net;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

namespace Gateway.Tests.RateLimiting;

/// <summary>Limits recover when the window passes; Redis outages are decided in bounded time and heal by themselves.</summary>
public sealed class RateLimitRecoveryTests : SimulatorAndRedisTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Limit_RecoversWhenTheWindowPasses(bool useRedis)
    {
        // A 2-second window keeps the test short; the algorithm is the same at 60.
        var config = RateLimitFixture.Config(Simulator.BaseUrl, useRedis ? Redis.Configuration : null, windowSeconds: 2);
        config["Keys"]!["requests"]!["Limits"]!["RequestsPerMinute"] = 5;
        await using var gateway = await GatewayHost.StartAsync(config);
        var chat = gateway.Chat("deepinfra-llama", RateLimitFixture.KeyFor("requests"));

        for (var i = 0; i < 5; i++)
        {
            await chat.CompleteChatAsync([new UserChatMessage("x")]);
        }

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(429, ex.Status);
        Assert.True(ex.GetRawResponse()!.Headers.TryGetValue("retry-after-ms", out var retryText));
        var retry = TimeSpan.FromMilliseconds(long.Parse(retryText!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(retry, TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(2));

        // Waiting as told is enough.
        await Task.Delay(retry + TimeSpan.FromMilliseconds(50));
        await chat.CompleteChatAsync([new UserChatMessage("x")]);
    }

    [Theory]
    [InlineData("allow", 200)]
    [InlineData("reject", 503)]
    public async Task RedisStoppedUnderLoad_DecidedInBoundedTime_ThenRecovers(string policy, int statusWhileDown)
    {
        var config = RateLimitFixture.Config(Simulator.BaseUrl, Redis.Configuration, onRedisFailure: policy);
        config["Keys"]!["outage"]!["Limits"]!["RequestsPerMinute"] = 100_000;
        await using var gateway = await GatewayHost.StartAsync(config);
        using var http = new HttpClient { BaseAddress = gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", RateLimitFixture.KeyFor("outage"));

        var results = new List<(int Status, TimeSpan Took, string Phase)>();
        async Task LoadAsync(string phase, int count)
        {
            var batch = await Task.WhenAll(Enumerable.Range(0, count).Select(async _ =>
            {
                var watch = Stopwatch.StartNew();
                var (response, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
                return ((int)response.StatusCode, watch.Elapsed, phase);
            }));
            lock (results)
            {
                results.AddRange(batch);
            }
        }

        await LoadAsync("before", 20);
        await Redis.StopAsync();
        for (var i = 0; i < 5; i++)
        {
            await LoadAsync("down", 20);
        }

        await Redis.RestartAsync();
        // The connection comes back by itself; counting resumes.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        HttpResponseMessage probe;
        do
        {
            await Task.Delay(200);
            (probe, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
        }
        while (!probe.Headers.Contains("x-ratelimit-remaining-requests") && DateTime.UtcNow < deadline);
        Assert.True(probe.Headers.Contains("x-ratelimit-remaining-requests"), "limits did not resume after Redis returned");
        await LoadAsync("after", 20);

        Assert.All(results.Where(r => r.Phase != "down"), r => Assert.Equal(200, r.Status));
        Assert.All(results.Where(r => r.Phase == "down"), r => Assert.Equal(statusWhileDown, r.Status));
        // Every decision came within a bounded time, Redis or not: while Redis is down an admission is asked twice
        // (Limits:DecisionAttempts), each waiting at most its local patience (4 x the 300 ms decision timeout, at least
        // 1 s), so about 2.4 s, plus the request itself on a busy machine; never the 30 s the client would wait.
        Assert.All(results, r => Assert.True(r.Took < TimeSpan.FromSeconds(5), $"{r.Phase} request took {r.Took}"));
    }
}
