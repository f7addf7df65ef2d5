using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using StackExchange.Redis;

namespace Gateway.Tests.Tenants;

/// <summary>
/// A replica killed with SIGKILL mid-request: a survivor records each of its admitted requests exactly once
/// (<c>replica_lost</c>, at what was reserved) and the key's counters end where the records say.
/// </summary>
public sealed class ReplicaLossTests : IAsyncLifetime
{
    private const string Key = "sk-replica-loss";
    private SimulatorHost _simulator = null!;
    private RedisServer _redis = null!;
    private GatewayFleet _fleet = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        _redis = await RedisServer.StartAsync();
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = _redis.Configuration };
        // Short leases and a quick sweep, so the test sees in seconds what takes a minute or two with the defaults.
        config["Limits"] = new JsonObject { ["LeaseMarginSeconds"] = 1, ["LostReservationGraceSeconds"] = 1, ["LostReservationSweepSeconds"] = 0.5 };
        var provider = TestConfig.Provider("deepinfra", _simulator.BaseUrl.ToString().TrimEnd('/'), "GW_TEST_DEEPINFRA_KEY", responseTimeout: 2, idleTimeout: 5);
        provider["MaxQueueSeconds"] = 0;
        config["Providers"]!["deepinfra-short-lease"] = provider;
        config["Models"]!["lease-llama"] = TestConfig.Model(("deepinfra-short-lease", "meta-llama/Meta-Llama-3.1-8B-Instruct"));
        config["Keys"]!["metered"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(Key), ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject { ["TokensPerMinute"] = 10_000_000, ["BudgetUsd"] = 100, ["BudgetPeriod"] = "day" },
        };
        _fleet = await GatewayFleet.StartAsync(config, 2);
    }

    public async Task DisposeAsync()
    {
        await _fleet.DisposeAsync();
        await _redis.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Fact]
    public async Task KilledReplica_ItsAdmittedRequestsAreRecordedOnce_BySurvivors()
    {
        const string Slow = """{"model":"lease-llama","stream":true,"messages":[{"role":"user","content":"slow [sim words=100 chunk_delay_ms=200]"}]}""";
        var lost = Enumerable.Range(0, 7).Select(_ => Sse.NewRequestId()).ToList();
        var streams = new List<OpenStream>();
        foreach (var id in lost)
        {
            streams.Add(await OpenStream.StartAsync(_fleet.Urls[0], Key, Slow, id));
        }

        // A key in a team: its reservation lives in the team's scope, and is recorded under the key and the team.
        using var admin = new Keys.RuntimeKeyApi(_fleet.Urls[1], TestConfig.AdminKey);
        await admin.CreateTeamAsync("""{"name":"lossy","budget":{"usd":100,"period":"day"}}""");
        var teamKey = await admin.CreateAsync("""{"name":"lossy-bot","team":"lossy"}""");
        await Eventually.TrueAsync(async () =>
        {
            using var replica0 = new Keys.RuntimeKeyApi(_fleet.Urls[0], TestConfig.AdminKey);
            return (await replica0.ChatAsync(teamKey, "no-such-model")).Status == HttpStatusCode.NotFound;
        }, TimeSpan.FromSeconds(5), "replica 0 never knew the team's key");
        var teamLost = Sse.NewRequestId();
        streams.Add(await OpenStream.StartAsync(_fleet.Urls[0], teamKey, Slow, teamLost));

        // A survivor's own stream outlives its lease several times: renewed, it is never taken for a lost one.
        var living = Sse.NewRequestId();
        using var survivorStream = await OpenStream.StartAsync(_fleet.Urls[1], Key,
            """{"model":"lease-llama","stream":true,"messages":[{"role":"user","content":"alive [sim words=30 chunk_delay_ms=200]"}]}""", living);
        foreach (var stream in streams)
        {
            Assert.StartsWith("data: ", await stream.ReadLineAsync());
        }

        _fleet[0].Kill();
        foreach (var stream in streams)
        {
            stream.Dispose();
        }

        Assert.EndsWith("data: [DONE]", (await survivorStream.ReadToEndAsync()).TrimEnd());

        await using var redis = await ConnectionMultiplexer.ConnectAsync(_redis.Configuration);
        List<JsonElement> records = [];
        await Eventually.TrueAsync(async () =>
        {
            records = [.. (await redis.GetDatabase().StreamRangeAsync("gw:{usage}:events"))
                .Select(e => JsonDocument.Parse((string)e["record"]!).RootElement.Clone())];
            return lost.Append(teamLost).All(id => records.Any(r => r.GetProperty("request_id").GetString() == id));
        }, TimeSpan.FromSeconds(30), "the killed replica's requests were not all recorded");

        foreach (var id in lost)
        {
            var record = Assert.Single(records, r => r.GetProperty("request_id").GetString() == id);
            Assert.Equal("replica_lost", record.GetProperty("outcome").GetString());
            Assert.Equal("metered", record.GetProperty("key").GetString());
            Assert.True(record.GetProperty("estimated").GetBoolean());
            Assert.True(record.GetProperty("cost_micros").GetInt64() > 0);
        }

        Assert.Equal("ok", Assert.Single(records, r => r.GetProperty("request_id").GetString() == living).GetProperty("outcome").GetString());
        var teamRecord = Assert.Single(records, r => r.GetProperty("request_id").GetString() == teamLost);
        Assert.Equal(("replica_lost", "lossy-bot", "lossy"),
            (teamRecord.GetProperty("outcome").GetString(), teamRecord.GetProperty("key").GetString(), teamRecord.GetProperty("team").GetString()));
        // Under the key's own identity, not the team's scope.
        Assert.StartsWith("r", teamRecord.GetProperty("key_id").GetString(), StringComparison.Ordinal);
        var server = redis.GetServers().Single();
        var teamBudget = server.Keys(pattern: "gw:rl:{t:*}:team:budget").Single();
        Assert.Equal(teamRecord.GetProperty("cost_micros").GetInt64(), (long)await redis.GetDatabase().HashGetAsync(teamBudget, "spent"));

        // Nothing is left open, and the budget holds exactly what the records say was spent.
        var scope = "gw:rl:{k:" + Gateway.Configuration.KeyHasher.IdentityOf(Convert.FromHexString(TestConfig.Sha256(Key))) + "}";
        Assert.Equal(0, await redis.GetDatabase().SortedSetLengthAsync(scope + ":open2"));
        var spent = (long)await redis.GetDatabase().HashGetAsync(scope + ":budget", "spent");
        // The records of the budget's own day (a run across midnight UTC starts the budget over).
        var day = BudgetDays.Of((string?)await redis.GetDatabase().HashGetAsync(scope + ":budget", "period"));
        Assert.Equal(records.Where(r => r.GetProperty("key").GetString() == "metered" && BudgetDays.OfRecord(r) == day)
            .Sum(r => r.TryGetProperty("cost_micros", out var c) ? c.GetInt64() : 0), spent);

        // The survivor serves the key as ever.
        using var http = new HttpClient { BaseAddress = _fleet.Urls[1] };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Key);
        var (response, _) = await Sse.PostAsync(http, """{"model":"lease-llama","messages":[{"role":"user","content":"after"}]}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
