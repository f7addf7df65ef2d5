using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Keys;

/// <summary>
/// Teams on the embedded default (no Redis): a key in a team is admitted only when its own counters and the team's both
/// admit; the team's limit is named as the team's in the refusal; keys outside the team never feel it; the team API is
/// strict, audited and persisted; usage rolls up by team.
/// </summary>
public sealed class TeamTests : IAsyncLifetime
{
    // "x" with no max_tokens reserves 8 prompt + 1,024 completion tokens at 1.5 / 2 USD per million: 2,060 micro-dollars.
    private const long ReservationMicros = 2_060;

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-teams-");
    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;
    private RuntimeKeyApi _api = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        await StartGatewayAsync();
    }

    private async Task StartGatewayAsync()
    {
        _gateway = await GatewayHost.StartAsync(TestConfig.Standard(_simulator.BaseUrl), _directory, _ => { });
        _gateway.KeepDirectory = true;
        _api = new RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
        _directory.Delete(recursive: true);
    }

    [Fact]
    public async Task ATeamBudget_SpentByThreeKeysAtOnce_AdmitsExactlyWhatItHolds_AndNoKeyOutsideTheTeamFeelsIt()
    {
        var usd = (10 * ReservationMicros / 1e6).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await _api.CreateTeamAsync("""{"name":"research","budget":{"usd":""" + usd + ""","period":"day"}}""");
        var members = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            members.Add(await _api.CreateAsync($$"""{"name":"research-{{i}}","team":"research"}"""));
        }

        var outsider = await _api.CreateAsync("""{"name":"outsider","budget":{"usd":1,"period":"day"}}""");

        // Every admitted request is held at the provider, so every admission is decided before any settles: the budget
        // holds exactly ten worst-case reservations, whichever of the three keys asks.
        await _simulator.SetFaultsAsync("hold=research");
        try
        {
            var burst = Enumerable.Range(0, 30).Select(i => _api.ChatWithMessageAsync(members[i % 3])).ToList();
            await _simulator.WaitAtGateAsync("research", 10);
            await WaitUntilAsync(() => burst.Count(t => t.IsCompleted) >= 20, "twenty refusals");
            Assert.Equal(20, burst.Count(t => t.IsCompleted));
            Assert.All(burst.Where(t => t.IsCompleted).Select(t => t.Result), r =>
            {
                Assert.Equal((HttpStatusCode.TooManyRequests, "insufficient_quota"), (r.Status, r.Code));
                Assert.Contains("team 'research'", r.Message, StringComparison.Ordinal);
            });

            // A key outside the team is admitted while the team is spent (it is held too: let it through with the rest).
            var outside = _api.ChatWithMessageAsync(outsider);
            await _simulator.WaitAtGateAsync("research", 11);
            await _simulator.OpenGateAsync("research");
            Assert.All(await Task.WhenAll(burst), r => Assert.True(r.Status is HttpStatusCode.OK or HttpStatusCode.TooManyRequests));
            Assert.Equal(10, (await Task.WhenAll(burst)).Count(r => r.Status == HttpStatusCode.OK));
            Assert.Equal(HttpStatusCode.OK, (await outside).Status);
        }
        finally
        {
            await _simulator.SetFaultsAsync(null);
            await _simulator.OpenGateAsync("research");
        }
    }

    [Fact]
    public async Task TwoTeams_AreStrangers_OneSpentTeamLeavesTheOtherAndItsKeysAsTheyWere()
    {
        // Teams share the store, the limiter and every replica's memory: nothing one team's keys do reaches another team.
        await _api.CreateTeamAsync("""{"name":"red","limits":{"requests_per_minute":2}}""");
        await _api.CreateTeamAsync("""{"name":"blue","limits":{"requests_per_minute":2}}""");
        var red = await _api.CreateAsync("""{"name":"red-bot","team":"red"}""");
        var blue = await _api.CreateAsync("""{"name":"blue-bot","team":"blue"}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(red));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(red));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _api.ChatAsync(red)).Status);

        // Blue's window is its own, and red's keys cannot manage teams or move themselves.
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(blue));
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Patch, "/admin/keys/red-bot", """{"team":"blue"}""", key: red)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Delete, "/admin/teams/blue", key: red)).Status);
        var (_, shown) = await _api.SendAsync(HttpMethod.Get, "/admin/teams/blue");
        Assert.Equal(1, shown.GetProperty("counters").EnumerateArray().Single().GetProperty("used").GetInt32());
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(blue));
    }

    [Fact]
    public async Task TeamAndKeyLimits_BothApply_AndARefusalNamesWhoseLimitItWas()
    {
        await _api.CreateTeamAsync("""{"name":"support","limits":{"requests_per_minute":5}}""");
        var capped = await _api.CreateAsync("""{"name":"support-capped","team":"support","limits":{"requests_per_minute":2}}""");
        var open = await _api.CreateAsync("""{"name":"support-open","team":"support","limits":{"requests_per_minute":100}}""");

        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(capped));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(capped));
        var own = await _api.ChatWithMessageAsync(capped);
        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limit_exceeded"), (own.Status, own.Code));
        Assert.Contains("key 'support-capped'", own.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("team", own.Message, StringComparison.Ordinal);

        // The team has 3 of its 5 left; the open key gets those three, then the team's limit refuses it.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(open));
        }

        var team = await _api.ChatWithMessageAsync(open);
        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limit_exceeded"), (team.Status, team.Code));
        Assert.Contains("team 'support' (key 'support-open')", team.Message, StringComparison.Ordinal);

        // The team's counters as the team API shows them.
        var (_, shown) = await _api.SendAsync(HttpMethod.Get, "/admin/teams/support");
        Assert.Equal(["support-capped", "support-open"], shown.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
        var counter = shown.GetProperty("counters").EnumerateArray().Single();
        Assert.Equal(("requests_per_window", 5, 5), (counter.GetProperty("kind").GetString(), counter.GetProperty("limit").GetInt32(), counter.GetProperty("used").GetInt32()));

        // A raised team limit is in force at once.
        var (status, _) = await _api.SendAsync(HttpMethod.Patch, "/admin/teams/support", """{"limits":{"requests_per_minute":50}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(open));
    }

    [Fact]
    public async Task MovingAKeyOutOfItsTeam_FreesItFromTheTeamsLimits()
    {
        await _api.CreateTeamAsync("""{"name":"tiny","limits":{"requests_per_minute":1}}""");
        var secret = await _api.CreateAsync("""{"name":"mover","team":"tiny"}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _api.ChatAsync(secret)).Status);

        var (status, moved) = await _api.SendAsync(HttpMethod.Patch, "/admin/keys/mover", """{"team":null}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(JsonValueKind.Null, moved.GetProperty("team").ValueKind);
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));

        // With no active key in it, the team can go; the audit trail names the team's changes as the team's.
        Assert.Equal(HttpStatusCode.OK, (await _api.SendAsync(HttpMethod.Delete, "/admin/teams/tiny")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.SendAsync(HttpMethod.Get, "/admin/teams/tiny")).Status);
        var (_, audit) = await _api.SendAsync(HttpMethod.Get, "/admin/audit");
        var entries = audit.GetProperty("data").EnumerateArray().ToList();
        Assert.Contains(entries, e => e.GetProperty("action").GetString() == "team.delete" && e.GetProperty("team").GetString() == "tiny");
        Assert.Contains(entries, e => e.GetProperty("action").GetString() == "update" && e.GetProperty("key").GetString() == "mover");
    }

    [Fact]
    public async Task TheTeamApi_IsStrict_RefusesToOrphanKeys_AndPersistsAcrossARestart()
    {
        await _api.CreateTeamAsync("""{"name":"ops","limits":{"requests_per_minute":100,"models":{"hive-llama":{"requests_per_minute":2}}},"metadata":{"cost_centre":"42"}}""");
        Assert.Equal(HttpStatusCode.Conflict, (await _api.SendAsync(HttpMethod.Post, "/admin/teams", """{"name":"ops"}""")).Status);
        foreach (var bad in new[]
        {
            """{"name":"t2","models":["*"]}""", """{"name":"t2","expires_at":null}""", """{"name":"t2","team":"ops"}""",
            """{"name":"t2","limits":{"requests_per_minute":-1}}""", """{"name":"t2","limits":{"models":{"no-such-model":{"requests_per_minute":1}}}}""",
            """{"name":"bad name"}""", "[]",
        })
        {
            var (status, body) = await _api.SendAsync(HttpMethod.Post, "/admin/teams", bad);
            Assert.True(status == HttpStatusCode.BadRequest, $"{bad} answered {(int)status}");
            Assert.Equal("invalid_key_request", body.GetProperty("error").GetProperty("code").GetString());
        }

        // A key cannot join a team that does not exist, and a team with an active key cannot be deleted.
        var (unknown, why) = await _api.SendAsync(HttpMethod.Post, "/admin/keys", """{"name":"lost","team":"no-such-team"}""");
        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        Assert.Contains("no-such-team", why.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        var secret = await _api.CreateAsync("""{"name":"ops-bot","team":"ops"}""");
        var (conflict, _) = await _api.SendAsync(HttpMethod.Delete, "/admin/teams/ops");
        Assert.Equal(HttpStatusCode.Conflict, conflict);

        // Only admin keys see or change teams.
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Get, "/admin/teams", key: secret)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Patch, "/admin/teams/ops", """{"limits":null}""", key: secret)).Status);

        // The team's per-model limit applies to its keys; after a restart the team, its limits and its key are all there.
        _api.Dispose();
        await _gateway.DisposeAsync();
        await StartGatewayAsync();
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret, "hive-llama"));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret, "hive-llama"));
        var third = await _api.ChatWithMessageAsync(secret, "hive-llama");
        Assert.Equal(HttpStatusCode.TooManyRequests, third.Status);
        Assert.Contains("team 'ops'", third.Message, StringComparison.Ordinal);
        var (_, list) = await _api.SendAsync(HttpMethod.Get, "/admin/teams");
        var ops = list.GetProperty("data").EnumerateArray().Single();
        Assert.Equal("42", ops.GetProperty("metadata").GetProperty("cost_centre").GetString());
        Assert.Equal(["ops-bot"], ops.GetProperty("keys").EnumerateArray().Select(k => k.GetString()));
    }

    [Fact]
    public async Task Usage_RollsUpByTeam()
    {
        await _api.CreateTeamAsync("""{"name":"billing"}""");
        var a = await _api.CreateAsync("""{"name":"billing-a","team":"billing"}""");
        var b = await _api.CreateAsync("""{"name":"billing-b","team":"billing"}""");
        var solo = await _api.CreateAsync("""{"name":"solo"}""");
        foreach (var key in new[] { a, b, b, solo })
        {
            Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(key));
        }

        JsonElement rows = default;
        await Eventually.TrueAsync(async () =>
        {
            var (status, usage) = await _api.SendAsync(HttpMethod.Get, "/admin/usage?group_by=team");
            rows = usage.GetProperty("data");
            // Records reach the store in batches: wait for all four, the team's three and the lone key's one.
            return status == HttpStatusCode.OK
                && rows.EnumerateArray().Any(r => r.GetProperty("team").GetString() == "billing" && r.GetProperty("requests").GetInt64() == 3)
                && rows.EnumerateArray().Any(r => r.GetProperty("team").GetString() == "-" && r.GetProperty("requests").GetInt64() >= 1);
        }, TimeSpan.FromSeconds(10), "the team's three requests were not rolled up under it, and the lone key's apart");

        var (_, filtered) = await _api.SendAsync(HttpMethod.Get, "/admin/usage?team=billing&group_by=key");
        Assert.Equal(["billing-a", "billing-b"], filtered.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("key").GetString()).Order());
    }

    [Fact]
    public async Task AdminLimits_ShowsTheKeysNamed_WithTheTeamsLimitsAsTheTeams_AndIsBounded()
    {
        await _api.CreateTeamAsync("""{"name":"lab","limits":{"requests_per_minute":5}}""");
        var secret = await _api.CreateAsync("""{"name":"lab-bot","team":"lab","limits":{"requests_per_minute":2}}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));

        var (status, shown) = await _api.SendAsync(HttpMethod.Get, "/admin/limits?key=lab-bot");
        Assert.Equal(HttpStatusCode.OK, status);
        var key = Assert.Single(shown.GetProperty("data").EnumerateArray());
        var limits = key.GetProperty("limits").EnumerateArray().ToList();
        var own = Assert.Single(limits, l => !l.TryGetProperty("team", out _));
        var team = Assert.Single(limits, l => l.TryGetProperty("team", out var t) && t.GetString() == "lab");
        Assert.Equal((2, 1), (own.GetProperty("limit").GetInt32(), own.GetProperty("used").GetInt32()));
        Assert.Equal((5, 1), (team.GetProperty("limit").GetInt32(), team.GetProperty("used").GetInt32()));

        // Bounded: the first keys by name, and whether there are more.
        var (_, first) = await _api.SendAsync(HttpMethod.Get, "/admin/limits?limit=1");
        Assert.Single(first.GetProperty("data").EnumerateArray());
        Assert.True(first.GetProperty("has_more").GetBoolean());
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        await Eventually.TrueAsync(() => Task.FromResult(condition()), TimeSpan.FromSeconds(30), $"never saw {what}");
    }
}
