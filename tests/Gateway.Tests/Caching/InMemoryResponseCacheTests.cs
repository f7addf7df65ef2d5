using System.ClientModel;
using System.ClientModel.Primitives;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;

namespace Gateway.Tests.Caching;

/// <summary>The cache without Redis (the embedded default): answers in this process's memory, coalescing in-process.</summary>
public sealed class InMemoryResponseCacheTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Keys"]!["test"]!["Cache"] = new JsonObject { ["TtlSeconds"] = 60 };
        // Hits that do not count: a key allowed one request a minute still gets every hit.
        config["Cache"] = new JsonObject { ["CountHitsAsRequests"] = false };
        config["Keys"]!["limited"]!["Cache"] = new JsonObject();
        config["Keys"]!["limited"]!["Limits"] = new JsonObject { ["RequestsPerMinute"] = 1 };
        _gateway = await GatewayHost.StartAsync(config);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    private ChatClient Chat(string key = TestConfig.Key) => new("deepinfra-llama", new ApiKeyCredential(key), new OpenAIClientOptions
    {
        Endpoint = new Uri(_gateway.BaseUrl, "/v1"),
        RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
    });

    private Task<int> ProviderCallsAsync(string marker) => _simulator.CountRequestsContainingAsync(marker);

    [Fact]
    public async Task AKeysCache_ServesHits_AndCoalescesConcurrentRequests_WithoutRedis()
    {
        var prompt = $"in memory {Guid.NewGuid():N} [sim latency_ms=500]";
        var options = new ChatCompletionOptions { Temperature = 0 };
        var concurrent = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Chat().CompleteChatAsync([new UserChatMessage(prompt)], options)));
        var later = await Chat().CompleteChatAsync([new UserChatMessage(prompt)], options);

        Assert.Equal(1, await ProviderCallsAsync(prompt));
        Assert.Single(concurrent.Append(later).Select(r => r.Value.Content[0].Text).Distinct());
        Assert.True(later.GetRawResponse().Headers.TryGetValue("x-gateway-cache", out var cache));
        Assert.Equal("hit", cache);
    }

    [Fact]
    public async Task WhenHitsDoNotCount_AKeyOutOfRequestsStillGetsHits()
    {
        var prompt = $"uncounted {Guid.NewGuid():N}";
        var options = new ChatCompletionOptions { Temperature = 0 };
        var chat = Chat(TestConfig.LimitedKey);
        await chat.CompleteChatAsync([new UserChatMessage(prompt)], options);
        for (var i = 0; i < 3; i++)
        {
            var hit = await chat.CompleteChatAsync([new UserChatMessage(prompt)], options);
            Assert.True(hit.GetRawResponse().Headers.TryGetValue("x-gateway-cache", out var cache));
            Assert.Equal("hit", cache);
        }

        // A miss still counts: the one request of this minute is used.
        var miss = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage(prompt + " again")], options));
        Assert.Equal(429, miss.Status);
    }
}
