using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Keys;

/// <summary>Three gateway processes and one Redis, for the runtime keys the fleet shares.</summary>
public sealed class RuntimeKeyFleetFixture : IAsyncLifetime
{
    private GatewayFleet _fleet = null!;

    public SimulatorHost Simulator { get; private set; } = null!;
    public RedisServer Redis { get; private set; } = null!;
    public IReadOnlyList<Uri> Replicas => _fleet.Urls;

    public async Task InitializeAsync()
    {
        Simulator = await SimulatorHost.StartAsync();
        Redis = await RedisServer.StartAsync();
        var config = TestConfig.Standard(Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = Redis.Configuration };
        // These tests send thousands of refused requests from one address on purpose; the failure throttle would answer
        // them 429 before the key is even looked at (StrangerTests cover it).
        config["Server"]!["AuthFailuresPerMinute"] = 0;
        _fleet = await GatewayFleet.StartAsync(config, 3);
    }

    public RuntimeKeyApi Api(int replica) => new(Replicas[replica], TestConfig.AdminKey);

    public async Task DisposeAsync()
    {
        await _fleet.DisposeAsync();
        await Redis.DisposeAsync();
        await Simulator.DisposeAsync();
    }
}

/// <summary>
/// A key changed on one replica is in force on every replica within a second: a revoked key is refused everywhere
/// while it sends steady traffic, a rotated key keeps working through its grace period under load, and a flood of
/// made-up keys never reaches Redis (every replica holds the runtime keys in memory).
/// </summary>
public sealed class RuntimeKeyFleetTests(RuntimeKeyFleetFixture f) : IClassFixture<RuntimeKeyFleetFixture>
{
    private static readonly TimeSpan Propagation = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task ARevokedKey_IsAdmittedNowhere_OneSecondAfterTheRevokeAnswered()
    {
        using var admin = f.Api(0);
        var secret = await admin.CreateAsync("""{"name":"revoked-under-load"}""");
        await WorksEverywhereAsync(secret);

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var traffic = Enumerable.Range(0, 3).Select(r => SteadyAsync(r, secret, clock, stop.Token)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(1));
        using (var other = f.Api(1))
        {
            await other.RevokeAsync("revoked-under-load");
        }

        var revoked = clock.Elapsed;
        await Task.Delay(Propagation + TimeSpan.FromSeconds(1.5));
        await stop.CancelAsync();
        var results = (await Task.WhenAll(traffic)).SelectMany(r => r).ToList();

        var late = results.Where(r => r.Started > revoked + Propagation).ToList();
        Assert.NotEmpty(late);
        Assert.All(late, r => Assert.Equal((HttpStatusCode.Unauthorized, "key_revoked"), (r.Status, r.Code)));
        var admittedAfter = results.Where(r => r.Status == HttpStatusCode.OK).Select(r => r.Started - revoked).DefaultIfEmpty().Max();
        Assert.True(admittedAfter <= Propagation, $"a request started {admittedAfter.TotalMilliseconds:F0} ms after the revoke answered was admitted");
        // Before the revoke, the key was served on every replica.
        Assert.All(Enumerable.Range(0, 3), r => Assert.Contains(results, x => x.Replica == r && x.Status == HttpStatusCode.OK));
    }

    [Fact]
    public async Task ARotatedKey_FailsNoRequestDuringItsGrace_AndTheNewSecretWorksEverywhere()
    {
        using var admin = f.Api(0);
        var old = await admin.CreateAsync("""{"name":"rotated-under-load"}""");
        await WorksEverywhereAsync(old);

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var traffic = Enumerable.Range(0, 3).Select(r => SteadyAsync(r, old, clock, stop.Token)).ToList();
        await Task.Delay(TimeSpan.FromSeconds(0.5));
        string fresh;
        using (var other = f.Api(2))
        {
            fresh = await other.RotateAsync("rotated-under-load", graceSeconds: 300);
        }

        await WorksEverywhereAsync(fresh);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await stop.CancelAsync();
        var results = (await Task.WhenAll(traffic)).SelectMany(r => r).ToList();

        Assert.True(results.Count > 10, $"only {results.Count} requests were sent");
        Assert.All(results, r => Assert.Equal(HttpStatusCode.OK, r.Status));
    }

    [Fact]
    public async Task AFloodOfMadeUpKeys_NeverReachesRedis()
    {
        using var admin = f.Api(0);
        var neighbour = await admin.CreateAsync("""{"name":"flood-neighbour"}""");
        await WorksEverywhereAsync(neighbour);
        // Every replica has applied the change (its own look at the store included) before counting starts: Redis's
        // reads then stand still for two looks in a row (each replica checks the key version every second).
        var before = await KeyReadsAsync();
        await Eventually.TrueAsync(async () =>
        {
            await Task.Delay(Propagation * 1.5);
            var now = await KeyReadsAsync();
            (var stable, before) = (now == before, now);
            return stable;
        }, TimeSpan.FromSeconds(30), "Redis's key reads never stood still before the flood");
        var requests = Enumerable.Range(0, 300).Select(async i =>
        {
            using var api = new RuntimeKeyApi(f.Replicas[i % 3], TestConfig.AdminKey);
            return await api.ChatAsync("sk-gw-" + Guid.NewGuid().ToString("N")[..10] + "_" + Guid.NewGuid().ToString("N"));
        });
        var answers = await Task.WhenAll(requests);

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Unauthorized, a.Status));
        Assert.Equal(before, await KeyReadsAsync());
    }

    [Fact]
    public async Task ATeamBudget_SpentByThreeKeysOnThreeReplicasAtOnce_NeverOvershoots()
    {
        // "x" with no max_tokens reserves 2,060 micro-dollars (8 + 1,024 tokens at 1.5 / 2 USD per million): ten fit.
        using var admin = f.Api(0);
        await admin.CreateTeamAsync("""{"name":"fleet-team","budget":{"usd":0.0206,"period":"day"}}""");
        var keys = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            keys.Add(await admin.CreateAsync($$"""{"name":"fleet-team-{{i}}","team":"fleet-team"}"""));
        }

        // Every replica knows the three keys (a model it may not use answers 404 without spending anything).
        foreach (var replica in Enumerable.Range(0, 3))
        {
            using var api = f.Api(replica);
            foreach (var key in keys)
            {
                await Eventually.TrueAsync(async () => (await api.ChatAsync(key, "no-such-model")).Status == HttpStatusCode.NotFound, Propagation * 5,
                    $"replica {replica} never knew a team key");
            }
        }

        // Admitted requests are held at the provider, so all 45 admissions are decided against reservations none has settled.
        await f.Simulator.SetFaultsAsync("hold=fleet-team");
        try
        {
            var apis = Enumerable.Range(0, 3).Select(f.Api).ToList();
            var burst = Enumerable.Range(0, 45).Select(i => apis[i % 3].ChatWithMessageAsync(keys[(i / 3) % 3])).ToList();
            await f.Simulator.WaitAtGateAsync("fleet-team", 10);
            await Eventually.TrueAsync(() => Task.FromResult(burst.Count(t => t.IsCompleted) >= 35), TimeSpan.FromSeconds(30), "the refusals never came");
            Assert.Equal(35, burst.Count(t => t.IsCompleted));
            Assert.All(burst.Where(t => t.IsCompleted).Select(t => t.Result), r => Assert.Equal("insufficient_quota", r.Code));

            await f.Simulator.OpenGateAsync("fleet-team");
            var results = await Task.WhenAll(burst);
            Assert.Equal(10, results.Count(r => r.Status == HttpStatusCode.OK));
            apis.ForEach(a => a.Dispose());
        }
        finally
        {
            await f.Simulator.SetFaultsAsync(null);
            await f.Simulator.OpenGateAsync("fleet-team");
        }

        // The team's counters live in its own slot, beside its keys'.
        var slotKeys = await f.Redis.CliAsync("--scan", "--pattern", "*rl:{t:*");
        Assert.Contains("budget", slotKeys, StringComparison.Ordinal);
    }

    /// <summary>How many times Redis has been asked for a key record (one or all): what a lookup would cost.</summary>
    private async Task<long> KeyReadsAsync()
    {
        var stats = await f.Redis.CliAsync("INFO", "commandstats");
        return stats.Split('\n').Where(l => l.StartsWith("cmdstat_hget:", StringComparison.Ordinal) || l.StartsWith("cmdstat_hgetall:", StringComparison.Ordinal))
            .Sum(l => long.Parse(l.Split("calls=")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture));
    }

    private async Task WorksEverywhereAsync(string secret)
    {
        foreach (var replica in Enumerable.Range(0, 3))
        {
            using var api = new RuntimeKeyApi(f.Replicas[replica], TestConfig.AdminKey);
            await Eventually.TrueAsync(async () => (await api.ChatAsync(secret)).Status == HttpStatusCode.OK, Propagation * 5,
                $"the key never worked on replica {replica}");
        }
    }

    private async Task<List<(int Replica, TimeSpan Started, HttpStatusCode Status, string? Code)>> SteadyAsync(int replica, string secret,
        Stopwatch clock, CancellationToken stop)
    {
        using var api = new RuntimeKeyApi(f.Replicas[replica], TestConfig.AdminKey);
        var results = new List<(int, TimeSpan, HttpStatusCode, string?)>();
        while (!stop.IsCancellationRequested)
        {
            var started = clock.Elapsed;
            var (status, code) = await api.ChatAsync(secret);
            results.Add((replica, started, status, code));
        }

        return results;
    }
}
