using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Gateway.Tests.Tenants;

/// <summary>
/// What one key can do to another through what they share (circuits, the response cache, a replica's address
/// throttle, Redis), on three gateway processes and one redis-server. Each test lets one key attack and asserts that
/// another key's service (status, deployment, answer) is unchanged.
/// </summary>
public sealed class TenantTests(TenantFixture fx) : IClassFixture<TenantFixture>
{
    private static string Body(string model, string prompt, bool stream = false, string? extra = null) =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(prompt)}}}]{{(stream ? ",\"stream\":true" : "")}}{{extra ?? ""}}}""";

    private static async Task<(HttpResponseMessage Response, string Body)> PostAsync(HttpClient http, string body, string? requestId = null,
        string? cacheControl = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (requestId is not null)
        {
            request.Headers.Add("x-request-id", requestId);
        }

        if (cacheControl is not null)
        {
            request.Headers.TryAddWithoutValidation("Cache-Control", cacheControl);
        }

        var response = await http.SendAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    /// <summary>What the response cache did for an answer (x-gateway-cache).</summary>
    private static string CacheStatus(HttpResponseMessage response) => response.Headers.GetValues("x-gateway-cache").Single();

    /// <summary>The providers the simulator saw for one request, in order.</summary>
    private async Task<List<string>> ProvidersAsync(string requestId) => [.. (await fx.Simulator.RequestsAsync(requestId)).Select(r => r.Provider)];

    private async Task<string> CircuitAsync(int replica, string model, string deployment)
    {
        using var http = fx.Http(replica, TenantFixture.Admin);
        var doc = JsonDocument.Parse(await http.GetStringAsync("/admin/deployments"));
        var route = doc.RootElement.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("model").GetString() == model);
        return route.GetProperty("deployments").EnumerateArray().Single(d => d.GetProperty("id").GetString() == deployment)
            .GetProperty("circuit").GetString()!;
    }

    [Fact]
    public async Task Circuit_OneKeysSlowGenerations_LongStreams_ModelWordedErrors_AndOwnFailures_LeaveItClosedForOthers()
    {
        using var attacker = fx.Http(0, TenantFixture.Attacker);
        var attacks = new List<Task>();
        for (var i = 0; i < 4; i++)
        {
            // (a) Whole answers that take longer than the provider's response timeout (1 s): the client chose the length.
            attacks.Add(PostAsync(attacker, Body("tenant-llama", $"slow {i} [sim only=deepinfra latency_ms=2500]")));
            // (b) Streams that outlive MaxStreamSeconds (1.5 s), however lively: the client chose the length and the pace.
            attacks.Add(PostAsync(attacker, Body("tenant-llama", $"long {i} [sim only=deepinfra words=120 chunk_delay_ms=25]", stream: true)));
            // (c) A Hive 400 whose message the client can steer into "model ... not supported".
            attacks.Add(PostAsync(attacker, Body("tenant-hive", $"worded {i} [sim only=hive status=400 error_message=\"this model is not supported for the request\"]")));
        }

        await Task.WhenAll(attacks);
        // (d) Real provider failures, but all of them the attacker's own requests.
        for (var i = 0; i < 5; i++)
        {
            await PostAsync(attacker, Body("tenant-llama", $"fail {i} [sim only=deepinfra status=500]"));
            await PostAsync(attacker, Body("tenant-hive", $"fail {i} [sim only=hive status=500]"));
        }

        Assert.Equal("closed", await CircuitAsync(0, "tenant-llama", "deepinfra-tight/" + TenantFixture.Fast));
        Assert.Equal("closed", await CircuitAsync(0, "tenant-hive", "hive/meta-llama/llama-3.2-1b-instruct"));

        // The victim's requests still go to each model's first deployment, on the replica that was attacked, with the
        // parameters SDKs send (an open circuit would have sent them to Segmind, which refuses max_tokens and temperature).
        using var victim = fx.Http(0, TenantFixture.Victim);
        foreach (var (model, provider) in new[] { ("tenant-llama", "deepinfra"), ("tenant-hive", "hive-v3") })
        {
            var id = Sse.NewRequestId();
            var (response, _) = await PostAsync(victim, Body(model, "hello", extra: ",\"max_tokens\":50,\"temperature\":0.7"), id);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal([provider], await ProvidersAsync(id));
        }
    }

    [Fact]
    public async Task Circuit_FailuresFromTwoKeys_StillOpenIt()
    {
        // The guard above does not switch circuits off: a deployment failing for two keys is skipped for everyone.
        using var attacker = fx.Http(1, TenantFixture.Attacker);
        using var accomplice = fx.Http(1, TenantFixture.Accomplice);
        for (var i = 0; i < 2; i++)
        {
            await PostAsync(attacker, Body("tenant-turbo", $"fail a{i} [sim only=deepinfra status=500]"));
            await PostAsync(accomplice, Body("tenant-turbo", $"fail b{i} [sim only=deepinfra status=500]"));
        }

        Assert.Equal("open", await CircuitAsync(1, "tenant-turbo", "deepinfra-tight/" + TenantFixture.Turbo));
        using var victim = fx.Http(1, TenantFixture.Victim);
        var id = Sse.NewRequestId();
        var (response, _) = await PostAsync(victim, Body("tenant-turbo", "hello"), id);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["segmind"], await ProvidersAsync(id));
    }

    [Fact]
    public async Task SharedCache_ACappedKeysCutAnswer_IsNeverServedToAnUncappedKey()
    {
        var prompt = $"cap {Guid.NewGuid():N} [sim words=12]";
        var body = Body("tenant-shared-cache", prompt, extra: ",\"temperature\":0");
        using var attacker = fx.Http(0, TenantFixture.Attacker);
        using var victim = fx.Http(1, TenantFixture.Victim);

        // The attacker has a token limit: its request goes upstream with max_tokens 3 and comes back cut.
        var (cut, cutBody) = await PostAsync(attacker, body);
        Assert.Equal("miss", CacheStatus(cut));
        Assert.Equal("length", JsonDocument.Parse(cutBody).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        // The victim's identical body is a different request upstream (no cap): not the attacker's entry.
        var victimId = Sse.NewRequestId();
        var (whole, wholeBody) = await PostAsync(victim, body, victimId);
        Assert.Equal("miss", CacheStatus(whole));
        var choice = JsonDocument.Parse(wholeBody).RootElement.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(12, choice.GetProperty("message").GetProperty("content").GetString()!.Split(' ').Length);
        Assert.DoesNotContain("max_tokens", (await fx.Simulator.SingleRequestAsync(victimId)).Body);

        // Each now hits its own entry: the attacker's cut answer, the victim's whole one.
        var (again, againBody) = await PostAsync(victim, body);
        Assert.Equal("hit", CacheStatus(again));
        Assert.Equal(12, JsonDocument.Parse(againBody).RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!.Split(' ').Length);
        var (cutAgain, _) = await PostAsync(attacker, body);
        Assert.Equal("hit", CacheStatus(cutAgain));
    }

    [Fact]
    public async Task SharedCache_NoCacheFromAnotherKey_DoesNotReplaceTheEntry_AnAdminsDoes()
    {
        var prompt = $"refresh {Guid.NewGuid():N}";
        var body = Body("tenant-shared-cache", prompt, extra: ",\"temperature\":0");
        using var victim = fx.Http(0, TenantFixture.Victim);
        using var other = fx.Http(1, TenantFixture.Accomplice);
        using var admin = fx.Http(2, TenantFixture.Admin);

        Assert.Equal("miss", CacheStatus((await PostAsync(victim, body)).Response));
        var (refused, _) = await PostAsync(other, body, cacheControl: "no-cache");
        Assert.Equal(HttpStatusCode.OK, refused.StatusCode);
        Assert.Equal("bypass", CacheStatus(refused));
        Assert.Equal("refresh_needs_admin", refused.Headers.GetValues("x-gateway-cache-reason").Single());
        Assert.Equal("hit", CacheStatus((await PostAsync(victim, body)).Response));

        var (refreshed, _) = await PostAsync(admin, body, cacheControl: "no-cache");
        Assert.Equal("refresh", CacheStatus(refreshed));
        // The victim's miss, the other key's fresh answer (not stored), the admin's refresh.
        Assert.Equal(3, await fx.Simulator.CountRequestsContainingAsync(prompt));
    }

    [Fact]
    public async Task Coalescing_ALeaderWhoseClientReadsSlowly_DoesNotHoldAnotherKeysIdenticalRequest()
    {
        // A large answer (~10 MB: more than the kernel buffers and Kestrel hold) to a client that never reads: its write cannot finish.
        var prompt = $"big {Guid.NewGuid():N} [sim words=1500000]";
        var body = Encoding.UTF8.GetBytes(Body("tenant-shared-cache", prompt, extra: ",\"temperature\":0"));
        using var leader = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await leader.ConnectAsync(fx.Replicas[0].Host, fx.Replicas[0].Port);
        var head = Encoding.ASCII.GetBytes($"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TenantFixture.Accomplice}\r\n" +
            $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
        await leader.SendAsync(head.Concat(body).ToArray());
        await Eventually.TrueAsync(async () => await fx.Simulator.CountRequestsContainingAsync(prompt) == 1, because: "the leader never called the provider");

        // The victim's identical request is served from the leader's answer as soon as the provider's answer is whole
        // (before: it waited the whole CoalesceWaitSeconds, 20 s, behind the leader's client, then called the provider itself).
        using var victim = fx.Http(0, TenantFixture.Victim);
        var (response, answer) = await PostAsync(victim, Encoding.UTF8.GetString(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hit", CacheStatus(response));
        Assert.Equal(1500000, JsonDocument.Parse(answer).RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(1, await fx.Simulator.CountRequestsContainingAsync(prompt));
    }

    [Fact]
    public async Task UsageReads_OfOneKey_TouchOnlyItsOwnRollups_AndAreLimited()
    {
        // A fleet with history: 400 days of 300 other cells each (keys x models x providers) in the shared day rollups.
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fx.Redis.Configuration);
        await redis.GetDatabase().ScriptEvaluateAsync("""
            local today = tonumber(ARGV[1])
            for d = 0, 399 do
              local day = KEYS[1] .. ARGV[d + 2]
              for c = 1, 300 do
                local cell = 'other-' .. (c % 50) .. '\31model-' .. (c % 6) .. '\31p\31'
                redis.call('HSET', day, cell .. 'requests', 7, cell .. 'prompt_tokens', 100, cell .. 'completion_tokens', 50, cell .. 'cost_micros', 9)
              end
            end
            return 1
            """, ["gw:{usage}:day:"], [0, .. Enumerable.Range(0, 400).Select(d => (RedisValue)DateTime.UtcNow.AddDays(-d).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))]);

        using var attacker = fx.Http(1, TenantFixture.Attacker);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(attacker, Body("tenant-llama", "usage of my own"))).Response.StatusCode);
        var start = DateTime.UtcNow.AddDays(-399).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var url = $"/v1/usage?start={start}&group_by=day,key,model,provider";
        await Eventually.TrueAsync(async () => JsonDocument.Parse(await attacker.GetStringAsync(url)).RootElement
            .GetProperty("totals").GetProperty("requests").GetInt64() >= 1, because: "the attacker's own usage never showed");
        var before = fx.ResidentBytes(1);
        var peak = before;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, fx.ResidentBytes(1));
                await Task.Delay(20);
            }
        });

        // Twelve at once, as the attack was made; the victim's chat requests go on meanwhile.
        var reads = Enumerable.Range(0, 12).Select(_ => attacker.GetAsync(url)).ToList();
        using var victim = fx.Http(1, TenantFixture.Victim);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync(victim, Body("tenant-llama", $"during usage reads {i}"))).Response.StatusCode);
        }

        // The replica's usage reads are shared (two at a time): the attacker's twelve take at most one, so another key's
        // own read is answered meanwhile.
        Assert.Equal(HttpStatusCode.OK, (await victim.GetAsync("/v1/usage")).StatusCode);
        var answers = await Task.WhenAll(reads);
        await sampling.CancelAsync();
        await sampler;
        var statuses = answers.Select(a => a.StatusCode).ToList();
        // One read at a time per key: those that overlap a running one are told to retry (how many overlap depends on the
        // machine's pace; UsageReadGateTests pins the rule itself), and none is a 5xx.
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.All(statuses, s => Assert.True(s is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"usage read answered {s}"));
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        var own = JsonDocument.Parse(await answers.First(a => a.StatusCode == HttpStatusCode.OK).Content.ReadAsStringAsync()).RootElement;
        Assert.All(own.GetProperty("data").EnumerateArray(), r => Assert.Equal("attacker", r.GetProperty("key").GetString()));
        Assert.True(own.GetProperty("totals").GetProperty("requests").GetInt64() >= 1);
        // The replica read only the attacker's own cells: its memory barely moved (it was ~1.7 GB for this before).
        Assert.True(peak - before < 64 * 1024 * 1024, $"resident memory grew by {(peak - before) / 1048576} MB during the reads");

        // The admin view still sees everyone.
        using var admin = fx.Http(1, TenantFixture.Admin);
        var all = JsonDocument.Parse(await admin.GetStringAsync($"/admin/usage?start={start}&group_by=key")).RootElement;
        Assert.Contains(all.GetProperty("data").EnumerateArray(), r => r.GetProperty("key").GetString() == "other-1");
    }

    [Fact]
    public async Task RefusedRequests_CostRedisAFixedAmount_NotOnePerRequest()
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(fx.Redis.Configuration + ",allowAdmin=true");
        var server = redis.GetServer(fx.Redis.Configuration);
        using var refused = fx.Http(0, TenantFixture.Refused);
        var body = Body("tenant-llama", "hello");
        // The first is admitted (one request a minute); warm-up refusals make the rollup cells exist before measuring.
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(refused, body)).Response.StatusCode);
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, (await PostAsync(refused, body)).Response.StatusCode);
        }

        await WaitForRefusalsAsync(redis, 20);
        var before = await UsedMemoryAsync(server);

        const int Flood = 3000;
        var sent = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref sent) <= Flood)
            {
                var (response, _) = await PostAsync(refused, body);
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            }
        }));
        await WaitForRefusalsAsync(redis, 20 + Flood);
        var perRequest = (double)(await UsedMemoryAsync(server) - before) / Flood;

        // A record and its seen-marker each was ~420 bytes a request; aggregated, a flush a second is all it costs (the
        // bound leaves room for the allocator's own movements).
        Assert.True(perRequest < 40, $"{perRequest:F1} bytes of Redis memory per refused request");
        // And the victim is served meanwhile.
        using var victim = fx.Http(0, TenantFixture.Victim);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(victim, body)).Response.StatusCode);
    }

    private static async Task<long> UsedMemoryAsync(IServer server)
    {
        var info = await server.InfoAsync("memory");
        return long.Parse(info.SelectMany(g => g).Single(p => p.Key == "used_memory").Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Waits until the day rollups count <paramref name="count"/> refused requests of the refused key: yesterday's and
    /// today's (a run across midnight UTC has refusals on both; the fixture's Redis is its own, so it holds no older ones).
    /// </summary>
    private static async Task WaitForRefusalsAsync(ConnectionMultiplexer redis, long count)
    {
        static string Day(DateTime at) => "gw:{usage}:day:" + at.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        await Eventually.TrueAsync(async () =>
        {
            var fields = (await redis.GetDatabase().HashGetAllAsync(Day(DateTime.UtcNow.AddDays(-1))))
                .Concat(await redis.GetDatabase().HashGetAllAsync(Day(DateTime.UtcNow)));
            var rejected = fields.Where(f => ((string)f.Name!).StartsWith("refused\u001f", StringComparison.Ordinal) &&
                                             ((string)f.Name!).EndsWith("\u001ffailed_requests", StringComparison.Ordinal))
                .Sum(f => (long)f.Value);
            return rejected >= count;
        }, TimeSpan.FromSeconds(30), $"the rollup did not count {count} refusals");
    }

    [Fact]
    public async Task BudgetedKeys_AreNotRefused_WhenTheReplicaReadsRedisRepliesLate()
    {
        // A replica short of CPU (compiling at start, a busy host) reads Redis's replies late: modelled by a clock whose
        // timers up to the decision timeout fire at once, before the reply is read. Redis decided in time by its own clock.
        var config = TestConfig.Standard(fx.Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = fx.Redis.Configuration, ["KeyPrefix"] = "late:" };
        config["Limits"] = new JsonObject { ["DecisionTimeoutMilliseconds"] = 250 };
        config["Keys"]!["budgeted"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(TenantFixture.Victim), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["BudgetUsd"] = 100, ["BudgetPeriod"] = "day" },
        };
        await using var gateway = await GatewayHost.StartAsync(config,
            builder => builder.Services.AddSingleton<TimeProvider>(new LateReadingClock(TimeSpan.FromMilliseconds(300))));

        using var http = new HttpClient { BaseAddress = gateway.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TenantFixture.Victim);
        for (var i = 0; i < 5; i++)
        {
            var (response, body) = await Sse.PostAsync(http,
                """{"model":"deepinfra-llama","messages":[{"role":"user","content":"under pressure"}]}""");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        }
    }

    [Fact]
    public void Replicas_AreReadyOnlyAfterARealAdmissionFittedItsTimeout()
    {
        for (var i = 0; i < 3; i++)
        {
            var output = fx.Output(i);
            var decided = output.IndexOf("An admission was decided in", StringComparison.Ordinal);
            var ready = output.IndexOf("Ready: configuration in force", StringComparison.Ordinal);
            Assert.True(decided >= 0 && ready > decided, $"replica {i} was ready before an admission was decided:\n{output}");
        }
    }

    /// <summary>The system clock, except that timers due within <paramref name="upTo"/> fire at once.</summary>
    private sealed class LateReadingClock(TimeSpan upTo) : TimeProvider
    {
        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            System.CreateTimer(callback, state, dueTime > TimeSpan.Zero && dueTime <= upTo ? TimeSpan.Zero : dueTime, period);
    }

    [Fact]
    public async Task AReusedKeyName_InheritsNothingOfTheKeyThatHadIt()
    {
        // "alice" is a key with a cache of its own and one request a minute; the name is then given to a new tenant.
        const string Old = "sk-alice-old-tenant", New = "sk-alice-new-tenant";
        var config = TestConfig.Standard(fx.Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = fx.Redis.Configuration, ["KeyPrefix"] = "reuse:" };
        config["Cache"] = new JsonObject { ["TtlSeconds"] = 600 };
        var cached = TestConfig.Model(("deepinfra", TenantFixture.Fast));
        cached["Cache"] = new JsonObject();
        config["Models"]!["private-cache"] = cached;
        JsonObject Alice(string secret) => new()
        {
            ["Sha256"] = TestConfig.Sha256(secret), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["RequestsPerMinute"] = 1 },
        };
        config["Keys"]!["alice"] = Alice(Old);
        await using var gateway = await GatewayHost.StartAsync(config);
        const string Question = """{"model":"private-cache","temperature":0,"messages":[{"role":"user","content":"my private prompt"}]}""";
        using var old = new HttpClient { BaseAddress = gateway.BaseUrl };
        old.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Old);
        var (first, _) = await PostAsync(old, Question);
        Assert.Equal("miss", CacheStatus(first));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostAsync(old, Question)).Response.StatusCode);

        config["Keys"]!["alice"] = Alice(New);
        await File.WriteAllTextAsync(gateway.ConfigPath, config.ToJsonString());
        await Eventually.TrueAsync(async () => (await PostAsync(old, Question)).Response.StatusCode == HttpStatusCode.Unauthorized,
            because: "the configuration change never applied");

        // The new "alice" gets neither the old one's cached answer, nor its spent request rate, nor its usage.
        using var fresh = new HttpClient { BaseAddress = gateway.BaseUrl };
        fresh.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", New);
        var (answer, _) = await PostAsync(fresh, Question);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal("miss", CacheStatus(answer));
        // (A 503 "retry shortly" is "not yet": one CPU-hog run saw a usage read fail once, reported in the issue note.)
        await Eventually.TrueAsync(async () =>
        {
            using var usage = await fresh.GetAsync("/v1/usage");
            return usage.IsSuccessStatusCode && JsonDocument.Parse(await usage.Content.ReadAsStringAsync()).RootElement
                .GetProperty("totals").GetProperty("requests").GetInt64() == 1;
        }, because: "the new key's usage is not its own one request");
    }

    [Fact]
    public async Task AddressThrottle_NeverRefusesAValidKey()
    {
        // Wrong keys from this address until it is throttled...
        using var stranger = fx.Http(2, "sk-wrong-guess");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 70; i++)
        {
            statuses.Add((await PostAsync(stranger, Body("tenant-llama", "x"))).Response.StatusCode);
        }

        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        // ...and the victim and the admin from the same address are served as ever.
        using var victim = fx.Http(2, TenantFixture.Victim);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(victim, Body("tenant-llama", "hello"))).Response.StatusCode);
        using var admin = fx.Http(2, TenantFixture.Admin);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/admin/deployments")).StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await PostAsync(stranger, Body("tenant-llama", "x"))).Response.StatusCode);
    }

    [Theory]
    [InlineData("max_to\u212Aens")] // the Kelvin sign folds to k
    [InlineData("\u017Ftream")] // the long s folds to s
    [InlineData("MAX_TOKENS")]
    public async Task FieldNames_ThatFoldToAKnownOne_NeverReachAPassingDeployment(string name)
    {
        // tenant-llama passes undocumented OpenAI parameters; a Go decoder would read these names as the real ones.
        using var attacker = fx.Http(0, TenantFixture.Accomplice);
        var id = Sse.NewRequestId();
        var (response, _) = await PostAsync(attacker, Body("tenant-llama", "hello", extra: $",{JsonSerializer.Serialize(name)}:1"), id);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = (await fx.Simulator.SingleRequestAsync(id)).Body;
        Assert.DoesNotContain(JsonSerializer.Serialize(name)[1..^1], sent);
        Assert.DoesNotContain(name, JsonDocument.Parse(sent).RootElement.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task VerboseReadiness_ShowsItsDetailToAdminsOnly()
    {
        using var stranger = fx.Http(1, null);
        var plain = await stranger.GetStringAsync("/readyz?verbose");
        Assert.DoesNotContain("GW_TEST", plain);
        Assert.DoesNotContain("provider:", plain);
        using var victim = fx.Http(1, TenantFixture.Victim);
        Assert.DoesNotContain("provider:", await victim.GetStringAsync("/readyz?verbose"));
        Assert.Equal("ready", await stranger.GetStringAsync("/readyz"));

        using var admin = fx.Http(1, TenantFixture.Admin);
        var checks = JsonDocument.Parse(await admin.GetStringAsync("/readyz?verbose")).RootElement.GetProperty("checks").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("status").GetString());
        Assert.Equal("ok", checks["provider:deepinfra"]);
    }
}
