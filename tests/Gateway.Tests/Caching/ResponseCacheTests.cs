using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using OpenAI.Chat;

#pragma warning disable OPENAI001 // ChatCompletionOptions.Seed is marked experimental in the SDK; the wire field is plain OpenAI.

namespace Gateway.Tests.Caching;

/// <summary>
/// The response cache end to end: the official OpenAI SDK as the client, three gateway processes on one Redis, the
/// provider simulator behind them, and what the simulator received as the measure of what was paid for.
/// </summary>
public sealed class ResponseCacheTests(ResponseCacheFixture fx) : IClassFixture<ResponseCacheFixture>
{
    private static readonly ChatCompletionOptions Repeatable = new() { Temperature = 0 };

    private static string Unique(string what) => $"{what} {Guid.NewGuid():N}";

    private static string CacheHeader(ClientResult result) =>
        result.GetRawResponse().Headers.TryGetValue("x-gateway-cache", out var value) ? value! : "(none)";

    private static async Task<(ClientResult<ChatCompletion> Result, string Cache)> AskAsync(ChatClient chat, string prompt,
        ChatCompletionOptions? options = null)
    {
        var result = await chat.CompleteChatAsync([new UserChatMessage(prompt)], options ?? Repeatable);
        return (result, CacheHeader(result));
    }

    [Fact]
    public async Task SecondIdenticalRequest_IsAHitOnAnotherReplica_AndReachesNoProvider()
    {
        var prompt = Unique("capital of France");
        var (first, firstCache) = await AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt);
        var (second, secondCache) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Alice), prompt);

        Assert.Equal("miss", firstCache);
        Assert.Equal("hit", secondCache);
        Assert.Equal(first.Value.Content[0].Text, second.Value.Content[0].Text);
        Assert.Equal(first.Value.FinishReason, second.Value.FinishReason);
        Assert.Equal(first.Value.Usage.InputTokenCount, second.Value.Usage.InputTokenCount);
        Assert.Equal(first.Value.Usage.OutputTokenCount, second.Value.Usage.OutputTokenCount);
        // Each answer is its own: a new id, the model name the client used.
        Assert.NotEqual(first.Value.Id, second.Value.Id);
        Assert.Equal("cached-llama", second.Value.Model);
        Assert.Equal("0", second.GetRawResponse().Headers.TryGetValue("x-gateway-cost-usd", out var cost) ? cost : null);
        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task FieldOrderAndWhitespace_DoNotChangeTheEntry()
    {
        var prompt = Unique("order");
        using var http = fx.Http(0, ResponseCacheFixture.Alice);
        var a = $$"""{"model":"cached-llama","temperature":0,"messages":[{"role":"user","content":"{{prompt}}"}]}""";
        var b = $$"""
            {
              "messages" : [ { "content" : "{{prompt}}", "role" : "user" } ],
              "temperature" : 0.0,   "model" : "cached-llama"
            }
            """;
        using var first = await http.PostAsync("/v1/chat/completions", new StringContent(a, Encoding.UTF8, "application/json"));
        using var second = await http.PostAsync("/v1/chat/completions", new StringContent(b, Encoding.UTF8, "application/json"));
        Assert.Equal("miss", first.Headers.GetValues("x-gateway-cache").Single());
        Assert.Equal("hit", second.Headers.GetValues("x-gateway-cache").Single());
        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task FiftyConcurrentIdenticalRequests_OnThreeReplicas_ReachTheProviderOnce()
    {
        // The provider takes 1.5 s, so all fifty arrive while the first is in flight.
        var prompt = Unique("coalesce [sim latency_ms=1500]");
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => AskAsync(fx.Chat(i, ResponseCacheFixture.Alice), prompt)));

        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
        Assert.Single(answers.Select(a => a.Result.Value.Content[0].Text).Distinct());
        Assert.Equal(1, answers.Count(a => a.Cache == "miss"));
        Assert.Equal(49, answers.Count(a => a.Cache == "hit"));
    }

    [Fact]
    public async Task StreamedHit_IsAProperOpenAiStream_WithTheSameText()
    {
        var prompt = Unique("tell me a story [sim words=40]");
        var (first, firstCache) = await AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt);
        Assert.Equal("miss", firstCache);

        // The SDK reads the replayed stream as any other.
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in fx.Chat(2, ResponseCacheFixture.Alice).CompleteChatStreamingAsync([new UserChatMessage(prompt)],
                           new ChatCompletionOptions { Temperature = 0 }))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal(first.Value.Content[0].Text, text.ToString());
        Assert.Equal(first.Value.FinishReason, finish);
        Assert.NotNull(usage);
        Assert.Equal(first.Value.Usage.OutputTokenCount, usage.OutputTokenCount);

        // And byte for byte: a role chunk, content chunks, the finish reason, the usage chunk asked for, [DONE].
        using var http = fx.Http(1, ResponseCacheFixture.Alice);
        var body = $$"""{"model":"cached-llama","temperature":0,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"{{prompt}}"}]}""";
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal("hit", response.Headers.GetValues("x-gateway-cache").Single());
        Assert.Equal("text/event-stream; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var contentChunks = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0 &&
            c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t) && t.GetString()!.Length > 0).ToList();
        Assert.True(contentChunks.Count > 1, "the content comes in pieces");
        Assert.Equal(first.Value.Content[0].Text, string.Concat(contentChunks.Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString())));
        var finishChunk = chunks[^2].GetProperty("choices")[0];
        Assert.Equal(first.Value.FinishReason == ChatFinishReason.Length ? "length" : "stop", finishChunk.GetProperty("finish_reason").GetString());
        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(first.Value.Usage.OutputTokenCount, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task StreamedMiss_IsStoredOnceItEnded_AndServesAPlainRequest()
    {
        var prompt = Unique("streamed first [sim words=12]");
        var streamed = new StringBuilder();
        await foreach (var update in fx.Chat(0, ResponseCacheFixture.Alice).CompleteChatStreamingAsync([new UserChatMessage(prompt)], Repeatable))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }
        }

        var (plain, cache) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Alice), prompt);
        Assert.Equal("hit", cache);
        Assert.Equal(streamed.ToString(), plain.Value.Content[0].Text);
        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task KeyScope_NeverServesOneKeysEntryToAnother_SharedScopeDoes()
    {
        var prompt = Unique("scoped");
        var (_, alice) = await AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt);
        var (_, bob) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Bob), prompt);
        var (_, bobAgain) = await AskAsync(fx.Chat(2, ResponseCacheFixture.Bob), prompt);
        Assert.Equal(("miss", "miss", "hit"), (alice, bob, bobAgain));
        Assert.Equal(2, await fx.ProviderCallsAsync(prompt));

        // Two keys whose requests go upstream alike (neither has a token limit that caps max_tokens; TenantTests has the
        // capped against the uncapped).
        var shared = Unique("shared");
        var (_, otherShared) = await AskAsync(fx.Chat(0, TestConfig.Key, "shared-llama"), shared);
        var (_, bobShared) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Bob, "shared-llama"), shared);
        Assert.Equal(("miss", "hit"), (otherShared, bobShared));
        Assert.Equal(1, await fx.ProviderCallsAsync(shared));
    }

    [Fact]
    public async Task RequestsThatAreNotRepeatable_BypassTheCache_AndSayWhy()
    {
        var prompt = Unique("sampled");
        var chat = fx.Chat(0, ResponseCacheFixture.Alice);
        // No temperature means the provider's default, which samples; so does temperature 0.7 without a seed.
        var unset = await chat.CompleteChatAsync([new UserChatMessage(prompt)]);
        var warm = await chat.CompleteChatAsync([new UserChatMessage(prompt)], new ChatCompletionOptions { Temperature = 0.7f });
        var seeded = await chat.CompleteChatAsync([new UserChatMessage(prompt)], new ChatCompletionOptions { Temperature = 0.7f, Seed = 7 });
        var seededAgain = await chat.CompleteChatAsync([new UserChatMessage(prompt)], new ChatCompletionOptions { Temperature = 0.7f, Seed = 7 });

        Assert.Equal("bypass", CacheHeader(unset));
        Assert.Equal("sampled_without_seed", unset.GetRawResponse().Headers.TryGetValue("x-gateway-cache-reason", out var reason) ? reason : null);
        Assert.Equal("bypass", CacheHeader(warm));
        Assert.Equal(("miss", "hit"), (CacheHeader(seeded), CacheHeader(seededAgain)));
        Assert.Equal(3, await fx.ProviderCallsAsync(prompt));

        var tools = new ChatCompletionOptions { Temperature = 0, Tools = { ChatTool.CreateFunctionTool("lookup", "Looks something up") } };
        var withTools = await chat.CompleteChatAsync([new UserChatMessage(Unique("tools"))], tools);
        Assert.Equal("bypass", CacheHeader(withTools));

        var plain = await fx.Chat(0, ResponseCacheFixture.Alice, "plain-llama").CompleteChatAsync([new UserChatMessage(prompt)], Repeatable);
        Assert.Equal("bypass", CacheHeader(plain));
        Assert.Equal("off", plain.GetRawResponse().Headers.TryGetValue("x-gateway-cache-reason", out var off) ? off : null);
    }

    [Fact]
    public async Task CacheControlAndTtlHeaders_AreHonoured()
    {
        var prompt = Unique("controlled");
        using var http = fx.Http(0, ResponseCacheFixture.Alice);
        async Task<(HttpStatusCode Status, string? Cache, string Body)> Post(params (string Name, string Value)[] headers)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent($$"""{"model":"cached-llama","temperature":0,"messages":[{"role":"user","content":"{{prompt}}"}]}""",
                    Encoding.UTF8, "application/json"),
            };
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            using var response = await http.SendAsync(request);
            return (response.StatusCode, response.Headers.TryGetValues("x-gateway-cache", out var v) ? v.Single() : null,
                await response.Content.ReadAsStringAsync());
        }

        // Kept for 0 seconds: answered, not stored.
        Assert.Equal((HttpStatusCode.OK, "miss"), Trim(await Post(("x-gateway-cache-ttl", "0"))));
        Assert.Equal((HttpStatusCode.OK, "bypass"), Trim(await Post(("Cache-Control", "no-store"))));
        Assert.Equal((HttpStatusCode.OK, "miss"), Trim(await Post()));
        Assert.Equal((HttpStatusCode.OK, "hit"), Trim(await Post()));
        Assert.Equal((HttpStatusCode.OK, "refresh"), Trim(await Post(("Cache-Control", "no-cache"))));
        Assert.Equal((HttpStatusCode.OK, "hit"), Trim(await Post()));
        Assert.Equal(4, await fx.ProviderCallsAsync(prompt));

        var bad = await Post(("x-gateway-cache-ttl", "soon"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.Equal("invalid_cache_header", JsonDocument.Parse(bad.Body).RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(4, await fx.ProviderCallsAsync(prompt));

        static (HttpStatusCode, string?) Trim((HttpStatusCode Status, string? Cache, string Body) r) => (r.Status, r.Cache);
    }

    [Fact]
    public async Task ErrorsAndOversizedAnswers_AreNeverCached()
    {
        var failing = Unique("fails [sim status=500]");
        for (var i = 0; i < 2; i++)
        {
            var error = await Assert.ThrowsAsync<ClientResultException>(() => AskAsync(fx.Chat(i, ResponseCacheFixture.Alice), failing));
            Assert.Equal("miss", error.GetRawResponse()!.Headers.TryGetValue("x-gateway-cache", out var cache) ? cache : null);
        }

        Assert.Equal(2, await fx.ProviderCallsAsync(failing));

        // An entry larger than the model's MaxEntryBytes (200) is answered and not kept.
        var large = Unique("large [sim words=80]");
        var (_, first) = await AskAsync(fx.Chat(0, ResponseCacheFixture.Alice, "small-entries-llama"), large);
        var (_, second) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Alice, "small-entries-llama"), large);
        Assert.Equal(("miss", "miss"), (first, second));
        Assert.Equal(2, await fx.ProviderCallsAsync(large));
    }

    [Fact]
    public async Task AStreamCutShort_IsNeverStored()
    {
        // The provider drops the connection after three chunks: the client's stream ends with an error event, not
        // [DONE], and nothing is kept: the same request again is a miss and reaches the provider.
        var prompt = Unique("cut [sim words=30 truncate_after=3]");
        var body = $$"""{"model":"cached-llama","temperature":0,"stream":true,"messages":[{"role":"user","content":"{{prompt}}"}]}""";
        for (var i = 0; i < 2; i++)
        {
            using var http = fx.Http(i, ResponseCacheFixture.Alice);
            using var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
            var stream = await response.Content.ReadAsStringAsync();
            Assert.Equal("miss", response.Headers.GetValues("x-gateway-cache").Single());
            Assert.DoesNotContain("[DONE]", stream);
            Assert.Contains("\"error\"", stream);
        }

        Assert.Equal(2, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task WaitersWhoseLeaderFails_CallTheProviderThemselves()
    {
        // The first request's call is held at the provider; two identical requests (here and on another replica) wait for
        // it; then it fails. The waiters ask on their own: three calls, three errors of their own, none served the
        // leader's error from a cache.
        var gate = "leader-fails-" + Guid.NewGuid().ToString("N");
        var prompt = Unique($"leader fails [sim hold={gate} status=500]");
        var leader = AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt);
        await fx.Simulator.WaitAtGateAsync(gate);
        var waiters = new[] { AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt), AskAsync(fx.Chat(1, ResponseCacheFixture.Alice), prompt) };
        await fx.WaitForWaitersAsync(0, 1);
        await fx.WaitForWaitersAsync(1, 1);
        await fx.Simulator.OpenGateAsync(gate);
        await Assert.ThrowsAsync<ClientResultException>(() => leader);
        foreach (var waiter in waiters)
        {
            await Assert.ThrowsAsync<ClientResultException>(() => waiter);
        }

        Assert.Equal(3, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task ALeaderWhoseClientLeaves_DoesNotCancelTheWaiters()
    {
        var gate = "leader-leaves-" + Guid.NewGuid().ToString("N");
        var prompt = Unique($"leader leaves [sim hold={gate}]");
        using var leaving = new CancellationTokenSource();
        var leader = fx.Chat(0, ResponseCacheFixture.Alice).CompleteChatAsync([new UserChatMessage(prompt)], Repeatable, leaving.Token);
        await fx.Simulator.WaitAtGateAsync(gate);
        var waiters = new[] { AskAsync(fx.Chat(0, ResponseCacheFixture.Alice), prompt), AskAsync(fx.Chat(1, ResponseCacheFixture.Alice), prompt) };
        await fx.WaitForWaitersAsync(0, 1);
        await fx.WaitForWaitersAsync(1, 1);
        await leaving.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => leader);
        await fx.Simulator.OpenGateAsync(gate);
        var answered = await Task.WhenAll(waiters);
        Assert.All(answered, a => Assert.False(string.IsNullOrEmpty(a.Result.Value.Content[0].Text)));
    }

    [Fact]
    public async Task HitsAreMetered_AsCacheHits_WithNoCostAndTheirSavings()
    {
        var prompt = Unique("metered");
        var (miss, _) = await AskAsync(fx.Chat(0, ResponseCacheFixture.Bob, "shared-llama"), prompt);
        await AskAsync(fx.Chat(1, ResponseCacheFixture.Bob, "shared-llama"), prompt);
        await AskAsync(fx.Chat(2, ResponseCacheFixture.Bob, "shared-llama"), prompt);

        using var admin = fx.Http(0, TestConfig.AdminKey);
        JsonElement totals = default;
        await Eventually.TrueAsync(async () =>
        {
            var usage = JsonDocument.Parse(await admin.GetStringAsync("/admin/usage?key=bob&model=shared-llama&group_by=key")).RootElement;
            totals = usage.GetProperty("totals").Clone();
            return totals.GetProperty("cache_hits").GetInt64() >= 2;
        }, TimeSpan.FromSeconds(20), "hits never reached the rollups");

        // bob's hits on this model: each saved what the miss cost; the rollup's cost counts only calls that were paid.
        Assert.True(totals.GetProperty("saved_micros").GetInt64() > 0);
        // The hourly rollups in Redis say the same: those since yesterday hold all of this fixture's (a run across midnight
        // UTC has hits on both days).
        var since = DateTime.UtcNow.AddDays(-1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var hourly = JsonDocument.Parse(await admin.GetStringAsync($"/admin/usage?key=bob&model=shared-llama&group_by=hour&start={since}")).RootElement;
        Assert.Equal(totals.GetProperty("cache_hits").GetInt64(), hourly.GetProperty("totals").GetProperty("cache_hits").GetInt64());
        var csv = await admin.GetStringAsync("/admin/usage?key=bob&model=shared-llama&group_by=key&format=csv");
        Assert.Contains("cache_hits", csv.Split('\n')[0]);
        Assert.True(miss.Value.Usage.OutputTokenCount > 0);
    }

    [Fact]
    public async Task AHit_CountsAsARequest_ButNeedsNoTokens()
    {
        var prompt = Unique("limits");
        await AskAsync(fx.Chat(0, ResponseCacheFixture.Alice, "shared-llama"), prompt);

        // carol's token rate fits no answer: a miss is refused...
        var miss = await Assert.ThrowsAsync<ClientResultException>(() => AskAsync(fx.Chat(0, ResponseCacheFixture.Carol, "shared-llama"), Unique("limits")));
        Assert.Equal(400, miss.Status);
        // ...and hits are served, two a minute, as her request rate says.
        var (first, firstCache) = await AskAsync(fx.Chat(1, ResponseCacheFixture.Carol, "shared-llama"), prompt);
        var (_, secondCache) = await AskAsync(fx.Chat(2, ResponseCacheFixture.Carol, "shared-llama"), prompt);
        Assert.Equal(("hit", "hit"), (firstCache, secondCache));
        Assert.False(string.IsNullOrEmpty(first.Value.Content[0].Text));
        var third = await Assert.ThrowsAsync<ClientResultException>(() => AskAsync(fx.Chat(0, ResponseCacheFixture.Carol, "shared-llama"), prompt));
        Assert.Equal(429, third.Status);
        Assert.Equal(1, await fx.ProviderCallsAsync(prompt));
    }

    [Fact]
    public async Task RedisStopped_RequestsAreMisses_NeverErrors()
    {
        var prompt = Unique("no redis");
        await fx.Redis.StopAsync();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var (answer, cache) = await AskAsync(fx.Chat(i, ResponseCacheFixture.Bob), prompt);
                Assert.Equal("miss", cache);
                Assert.False(string.IsNullOrEmpty(answer.Value.Content[0].Text));
            }
        }
        finally
        {
            await fx.Redis.RestartAsync();
        }

        Assert.Equal(3, await fx.ProviderCallsAsync(prompt));
        // Back to hits once Redis returns.
        await Eventually.TrueAsync(async () =>
        {
            await AskAsync(fx.Chat(0, ResponseCacheFixture.Bob), prompt);
            return (await AskAsync(fx.Chat(1, ResponseCacheFixture.Bob), prompt)).Cache == "hit";
        }, TimeSpan.FromSeconds(20), "no hit after Redis came back");
    }
}
