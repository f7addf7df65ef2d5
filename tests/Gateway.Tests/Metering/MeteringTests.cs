using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Metering;
using Gateway.Tests.Infrastructure;
using Gateway.Translators.Translation;
using OpenAI.Chat;
using Gateway.Requests;

namespace Gateway.Tests.Metering;

/// <summary>One exact usage record per request, whatever the outcome (issue 5), without Redis.</summary>
public sealed class MeteringTests(GatewayFixture f) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private async Task<UsageRecord> RecordOfAsync(string requestId)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var found = Directory.EnumerateFiles(f.Gateway.JournalDirectory, "usage-*.jsonl")
                .SelectMany(file => UsageJournal.Read(file)).Where(r => r.RequestId == requestId).ToList();
            if (found.Count > 0)
            {
                return Assert.Single(found);
            }

            Assert.True(DateTime.UtcNow < deadline, $"no usage record for {requestId}");
            await Task.Delay(50);
        }
    }

    private async Task<(HttpResponseMessage Response, string Body, UsageRecord Record)> SendAsync(string json, HttpClient? http = null)
    {
        var requestId = Sse.NewRequestId();
        var (response, body) = await Sse.PostAsync(http ?? f.Gateway.Http, json, requestId);
        return (response, body, await RecordOfAsync(requestId));
    }

    [Fact]
    public async Task Success_ReportedUsage_IsRecordedExactly()
    {
        var (response, _, r) = await SendAsync("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"a b c"}]}""");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(("test", "deepinfra-llama", "deepinfra", "meta-llama/Meta-Llama-3.1-8B-Instruct"), (r.Key, r.Model, r.Provider, r.UpstreamModel));
        Assert.Equal((3, 4, false), (r.PromptTokens, r.CompletionTokens, r.Estimated));
        // 3 x 1.5 + 4 x 2 = 12.5 micro-dollars, rounded once: 13.
        Assert.Equal(13, r.CostMicros);
        // DeepInfra's own estimated_cost (0.03 / 0.05 per million in the simulator), kept beside ours.
        Assert.Equal(0, r.ProviderCostMicros);
        Assert.Equal((200, "ok", false), (r.Status, r.Outcome, r.Streamed));
        Assert.True(r.LatencyMs > 0);
        Assert.NotNull(r.TimeToFirstTokenMs);
        Assert.Equal("0.000013", response.Headers.GetValues("x-gateway-cost-usd").Single());
    }

    [Fact]
    public async Task ProviderWithoutUsage_IsEstimatedAndLabelled()
    {
        var (_, body, r) = await SendAsync("""{"model":"segmind-llama","messages":[{"role":"user","content":"a b c"}]}""");

        // Billed from the cl100k tokenizer: "a"," b"," c" + 3 framing + 1 role ("user") + 3 priming;
        // the answer "echo: a b c" is "echo", ":", " a", " b", " c".
        Assert.True(r.Estimated);
        Assert.Equal(10, r.PromptTokens);
        Assert.Equal(5, r.CompletionTokens);
        Assert.Equal(200, r.ProviderCostMicros); // Segmind's x-cost header: $0.0002
        var usage = JsonDocument.Parse(body).RootElement.GetProperty("usage");
        Assert.True(usage.GetProperty("estimated").GetBoolean());
    }

    [Fact]
    public async Task LongStreamWithoutUsage_IsBilledWhatTheWholeTextCounts()
    {
        // ~17,000 characters relayed: counted in parts as they go (ProducedAnswer keeps at most ~8,000 uncounted), which
        // must bill exactly what counting the whole answer at the end would.
        var (_, body, r) = await SendAsync(
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=3000 no_usage=1]"}]}""");

        var relayed = RelayedText(body);
        Assert.True(relayed.Length > 2 * ProducedAnswer.KeptTextLimit, $"only {relayed.Length} characters relayed");
        Assert.True(r.Estimated);
        Assert.Equal(TokenCounter.Count(relayed), r.CompletionTokens);
    }

    [Fact]
    public async Task TwoKeysLongStreamsAtOnce_AreEachBilledTheirOwnText()
    {
        // Strangers: both answers are counted ahead at the same time, through the one shared tokenizer; neither key's
        // count may take anything of the other's (their lengths differ, so a mix-up shows).
        using var limited = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        limited.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.LimitedKey);
        var first = SendAsync("""{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=3000 no_usage=1]"}]}""");
        var second = SendAsync("""{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=2200 no_usage=1]"}]}""", limited);
        await Task.WhenAll(first, second);

        foreach (var (key, (_, body, r)) in new[] { ("test", await first), ("limited", await second) })
        {
            Assert.Equal(key, r.Key);
            Assert.True(r.Estimated);
            Assert.Equal(TokenCounter.Count(RelayedText(body)), r.CompletionTokens);
        }

        Assert.NotEqual((await first).Record.CompletionTokens, (await second).Record.CompletionTokens);
    }

    private static string RelayedText(string body) => string.Concat(Sse.Chunks(body)
        .Select(c => c.GetProperty("choices"))
        .Where(choices => choices.GetArrayLength() > 0)
        .Select(choices => choices[0].GetProperty("delta"))
        .Select(delta => delta.TryGetProperty("content", out var text) ? text.GetString() : null));

    [Fact]
    public async Task Stream_IsRecordedWithCostInTheUsageChunk()
    {
        var (_, body, r) = await SendAsync(
            """{"model":"hive-llama","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b c"}]}""");

        Assert.True(r.Streamed);
        Assert.Equal((3, 4, 13L), (r.PromptTokens, r.CompletionTokens, r.CostMicros));
        var usage = Sse.Chunks(body)[^1].GetProperty("usage");
        Assert.Equal(0.000013m, usage.GetProperty("cost").GetDecimal());
    }

    [Theory]
    [InlineData("""{"model":"deepinfra-llama","messages":[]}""", 400, "invalid_value")]
    [InlineData("""{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}""", 404, "model_not_found")]
    public async Task Refusals_AreCountedInAnAggregatePerKeyModelAndOutcome(string json, int status, string outcome)
    {
        // Nothing was sent or spent: a refusal is counted, not stored on its own (a flood of them must not fill the store).
        var requestId = Sse.NewRequestId();
        var (response, _) = await Sse.PostAsync(f.Gateway.Http, json, requestId);
        Assert.Equal(status, (int)response.StatusCode);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var records = Directory.EnumerateFiles(f.Gateway.JournalDirectory, "usage-*.jsonl").SelectMany(file => UsageJournal.Read(file)).ToList();
            Assert.DoesNotContain(records, r => r.RequestId == requestId);
            var aggregate = records.Where(r => r.RequestId == "(aggregate)" && r.Key == "test" && r.Model == "(none)" && r.Status == status).ToList();
            if (aggregate.Count > 0)
            {
                Assert.All(aggregate, r => Assert.Equal((0, 0, 0L), (r.PromptTokens, r.CompletionTokens, r.CostMicros)));
                Assert.Contains(aggregate, r => r.Outcome == outcome && r.Requests >= 1);
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, "the refusal was not counted");
            await Task.Delay(50);
        }
    }

    [Theory]
    [InlineData("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"x [sim status=500]"}]}""", TestConfig.Key, 502, "test", "deepinfra-llama")]
    public async Task Refusals_AndFailures_AreRecordedToo(string json, string key, int status, string expectedKey, string expectedModel)
    {
        using var http = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", key);
        var (response, _, r) = await SendAsync(json, http);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(status, r.Status);
        Assert.Equal((expectedKey, expectedModel), (r.Key, r.Model));
        Assert.Equal((0, 0, 0L), (r.PromptTokens, r.CompletionTokens, r.CostMicros));
    }

    [Fact]
    public async Task AbandonedStream_IsMeteredForWhatWasProduced()
    {
        var requestId = Sse.NewRequestId();
        using (var stream = await OpenStream.StartAsync(f.Gateway.BaseUrl, TestConfig.Key,
            """{"model":"deepinfra-llama","stream":true,"messages":[{"role":"user","content":"x [sim words=50 chunk_delay_ms=100]"}]}""", requestId))
        {
            for (var i = 0; i < 3; i++)
            {
                await stream.ReadLineAsync();
                await stream.ReadLineAsync();
            }
        }

        var r = await RecordOfAsync(requestId);
        Assert.Equal(("client_closed", 499), (r.Outcome, r.Status));
        Assert.True(r.Estimated);
        Assert.InRange(r.CompletionTokens, 3, 49);
        Assert.True(r.PromptTokens > 0);
        Assert.True(r.CostMicros > 0);
    }

    [Fact]
    public async Task OwnUsage_ShowsOnlyTheCallersKey()
    {
        using var limited = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        limited.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.LimitedKey);
        var (_, _, _) = await SendAsync("""{"model":"deepinfra-llama","messages":[{"role":"user","content":"a b c"}]}""", limited);

        var body = await limited.GetStringAsync("/v1/usage?group_by=key,model");
        var data = JsonDocument.Parse(body).RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.All(data, row => Assert.Equal("limited", row.GetProperty("key").GetString()));
        Assert.True(data.Single().GetProperty("requests").GetInt64() >= 1);
    }

    [Fact]
    public async Task HourlyUsage_CoversTheLastDays_AndAddsUpToTheDay()
    {
        // The day the request is sent, taken before it: a run across midnight UTC still finds it from then on.
        var since = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        await SendAsync("""{"model":"segmind-llama","messages":[{"role":"user","content":"hourly"}]}""");
        using var admin = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.AdminKey);
        var until = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        // Hour cells and day cells are written together: the hours of those days add up to the days (once the writer caught up).
        await Eventually.TrueAsync(async () =>
        {
            var day = JsonDocument.Parse(await admin.GetStringAsync($"/admin/usage?start={since}&model=segmind-llama&group_by=day")).RootElement;
            var hours = JsonDocument.Parse(await admin.GetStringAsync($"/admin/usage?start={since}&model=segmind-llama&group_by=hour")).RootElement;
            var rows = hours.GetProperty("data").EnumerateArray().ToList();
            return rows.Count > 0 && rows.All(r => r.GetProperty("hour").GetString() is { } hour &&
                       (hour.StartsWith(since + "T", StringComparison.Ordinal) || hour.StartsWith(until + "T", StringComparison.Ordinal))) &&
                   hours.GetProperty("totals").GetProperty("requests").GetInt64() == day.GetProperty("totals").GetProperty("requests").GetInt64();
        }, TimeSpan.FromSeconds(10), "hourly totals never matched the day's");

        var tooOld = await admin.GetAsync($"/admin/usage?start={DateTime.UtcNow.AddDays(-5):yyyy-MM-dd}&group_by=hour");
        Assert.Equal(HttpStatusCode.BadRequest, tooOld.StatusCode);
    }

    [Fact]
    public async Task AdminUsage_FiltersGroupsAndSpeaksCsv()
    {
        await SendAsync("""{"model":"hive-llama","messages":[{"role":"user","content":"a b c"}]}""");
        using var admin = new HttpClient { BaseAddress = f.Gateway.BaseUrl };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.AdminKey);

        var json = JsonDocument.Parse(await admin.GetStringAsync("/admin/usage?group_by=provider&provider=hive")).RootElement;
        var row = json.GetProperty("data").EnumerateArray().Single();
        Assert.Equal("hive", row.GetProperty("provider").GetString());
        Assert.Equal(row.GetProperty("requests").GetInt64(), json.GetProperty("totals").GetProperty("requests").GetInt64());

        var csv = await admin.GetStringAsync("/admin/usage?group_by=day,model&model=hive-llama&format=csv");
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("day,model,requests,failed_requests,estimated_requests,prompt_tokens,completion_tokens,cost_micros,provider_cost_micros,total_tokens,cost_usd,cache_hits,saved_micros", lines[0]);
        Assert.Contains(lines.Skip(1), l => l.Contains(",hive-llama,", StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.Forbidden, (await f.Gateway.Http.GetAsync("/admin/usage")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/admin/usage?group_by=colour")).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/admin/usage?start=yesterday")).StatusCode);
    }
}

/// <summary>Without Redis, a restart loses nothing: the rollups are rebuilt from the journal.</summary>
public sealed class JournalRestartTests : IAsyncLifetime
{
    private SimulatorHost _simulator = null!;

    public async Task InitializeAsync() => _simulator = await SimulatorHost.StartAsync();

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    [Fact]
    public async Task Restart_RebuildsRollupsFromTheJournal()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-restart-");
        var config = TestConfig.Standard(_simulator.BaseUrl);
        string before;
        await using (var gateway = await GatewayHost.StartAsync(config, 0, directory))
        {
            gateway.KeepDirectory = true;
            var chat = gateway.Chat("deepinfra-llama");
            for (var i = 0; i < 7; i++)
            {
                await chat.CompleteChatAsync([new UserChatMessage("a b c")]);
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            do
            {
                await Task.Delay(50);
                before = await gateway.Http.GetStringAsync("/v1/usage?group_by=model");
            }
            while (JsonDocument.Parse(before).RootElement.GetProperty("totals").GetProperty("requests").GetInt64() < 7 && DateTime.UtcNow < deadline);
            // Then one more, which only the shutdown flush can have written.
            await chat.CompleteChatAsync([new UserChatMessage("a b c")]);
        }

        await using var restarted = await GatewayHost.StartAsync(config, 0, directory);
        var after = await restarted.Http.GetStringAsync("/v1/usage?group_by=model");
        var totals = JsonDocument.Parse(after).RootElement.GetProperty("totals");
        Assert.Equal(8, totals.GetProperty("requests").GetInt64());
        Assert.Equal(8 * 13, totals.GetProperty("cost_micros").GetInt64());
        Assert.Equal(8 * 3, totals.GetProperty("prompt_tokens").GetInt64());
    }
}
