using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Redis;

/// <summary>
/// The gateway on a real Redis Cluster (three masters on loopback): every script keeps its keys in one hash slot, so
/// limits, budgets, metering and the Hive V2 bridge work there instead of failing open with CROSSSLOT.
/// </summary>
public sealed class RedisClusterTests : IAsyncLifetime
{
    private const string Key = "sk-cluster-key";
    private SimulatorHost _simulator = null!;
    private RedisCluster _cluster = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        _cluster = await RedisCluster.StartAsync();
        var port = FreePort.Get();
        var config = TestConfig.Standard(_simulator.BaseUrl).WithHiveV2(_simulator.BaseUrl, $"http://127.0.0.1:{port}", _cluster.Configuration);
        config["Keys"]!["cluster"] = new JsonObject
        {
            ["Sha256"] = TestConfig.Sha256(Key),
            ["Models"] = new JsonArray("*"),
            ["Limits"] = new JsonObject
            {
                ["RequestsPerMinute"] = 3, ["TokensPerMinute"] = 100_000, ["ConcurrentRequests"] = 5, ["BudgetUsd"] = 1, ["BudgetPeriod"] = "day",
                ["Models"] = new JsonObject { ["deepinfra-llama"] = new JsonObject { ["RequestsPerMinute"] = 10 } },
            },
        };
        _gateway = await GatewayHost.StartAsync(config, port);
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _cluster.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Fact]
    public async Task RuntimeKeys_AreCreatedRotatedAndRevokedOnACluster()
    {
        // The key store's records, prefixes, version and audit share one hash tag: each change is one script in one slot.
        using var api = new Keys.RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);
        var secret = await api.CreateAsync("""{"name":"cluster-bot","limits":{"requests_per_minute":100}}""");
        Assert.Equal((HttpStatusCode.OK, null), await api.ChatAsync(secret));
        var fresh = await api.RotateAsync("cluster-bot", graceSeconds: 0);
        Assert.Equal((HttpStatusCode.Unauthorized, "key_rotated"), await api.ChatAsync(secret));
        Assert.Equal((HttpStatusCode.OK, null), await api.ChatAsync(fresh));
        await api.RevokeAsync("cluster-bot");
        Assert.Equal((HttpStatusCode.Unauthorized, "key_revoked"), await api.ChatAsync(fresh));
        var (_, audit) = await api.SendAsync(HttpMethod.Get, "/admin/audit");
        Assert.Equal(["revoke", "rotate", "create"], audit.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task TeamAdmission_ChecksTheKeysAndTheTeamsCountersInOneScriptOnACluster()
    {
        // A key's counters and its team's share the team's hash tag: one admission script, one slot, both budgets and windows.
        using var api = new Keys.RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);
        await api.CreateTeamAsync("""{"name":"cluster-team","limits":{"requests_per_minute":3,"concurrent_requests":5},"budget":{"usd":1,"period":"month"}}""");
        var first = await api.CreateAsync("""{"name":"cluster-team-a","team":"cluster-team","limits":{"requests_per_minute":2},"budget":{"usd":1,"period":"day"}}""");
        var second = await api.CreateAsync("""{"name":"cluster-team-b","team":"cluster-team"}""");

        Assert.Equal((HttpStatusCode.OK, null), await api.ChatAsync(first));
        Assert.Equal((HttpStatusCode.OK, null), await api.ChatAsync(first));
        var own = await api.ChatWithMessageAsync(first);
        Assert.Equal(HttpStatusCode.TooManyRequests, own.Status);
        Assert.Contains("key 'cluster-team-a'", own.Message, StringComparison.Ordinal);
        Assert.Equal((HttpStatusCode.OK, null), await api.ChatAsync(second));
        var team = await api.ChatWithMessageAsync(second);
        Assert.Equal(HttpStatusCode.TooManyRequests, team.Status);
        Assert.Contains("team 'cluster-team'", team.Message, StringComparison.Ordinal);

        // Decided by the cluster, not failed open: the team's counters show the three requests and the budget spent.
        var (_, shown) = await api.SendAsync(HttpMethod.Get, "/admin/teams/cluster-team");
        var counters = shown.GetProperty("counters").EnumerateArray().ToDictionary(c => c.GetProperty("kind").GetString()!, c => c.GetProperty("used").GetInt64());
        Assert.Equal(3, counters["requests_per_window"]);
        Assert.True(counters["budget_micros_per_month"] > 0);
    }

    [Fact]
    public async Task LimitsBudgetsMeteringAndCallbacks_WorkOnACluster()
    {
        using var http = new HttpClient { BaseAddress = _gateway.BaseUrl, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", Key);
        var statuses = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            var (response, _) = await Sse.PostAsync(http, """{"model":"deepinfra-llama","messages":[{"role":"user","content":"x"}]}""");
            statuses.Add(response);
        }

        // Decided in the cluster (headers, and the fourth refused), not failed open.
        Assert.All(statuses.Take(3), r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.All(statuses.Take(3), r => Assert.True(r.Headers.Contains("x-ratelimit-remaining-requests")));
        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[3].StatusCode);

        // The Hive V2 bridge: pending marker, result and announcement through the cluster.
        var (v2, body) = await Sse.PostAsync(_gateway.Http, """{"model":"hive2-llama","messages":[{"role":"user","content":"via the cluster"}]}""");
        Assert.Equal(HttpStatusCode.OK, v2.StatusCode);
        Assert.Contains("echo: via the cluster", body);

        // Metering: every request rolled up (the refused one too).
        using var admin = new HttpClient { BaseAddress = _gateway.BaseUrl };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.AdminKey);
        await Eventually.TrueAsync(async () =>
        {
            var usage = await admin.GetStringAsync("/admin/usage?key=cluster&group_by=key");
            return JsonDocument.Parse(usage).RootElement.GetProperty("totals").GetProperty("requests").GetInt64() == 4;
        }, because: "usage was not rolled up in the cluster");

        // The distributed cache later features use, on the same connection.
        var cache = _gateway.Services.GetRequiredService<IDistributedCache>();
        await cache.SetStringAsync("probe", "value");
        Assert.Equal("value", await cache.GetStringAsync("probe"));
    }
}
