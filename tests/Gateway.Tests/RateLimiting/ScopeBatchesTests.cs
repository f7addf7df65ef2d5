using Gateway.Configuration;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// Group commit in the Redis engine (<see cref="ScopeBatches"/>): a settlement rides on the next admission of its scope,
/// or goes on its own when the linger is over, or when the replica stops; admissions that gather while a call is in flight
/// go as one call and are decided exactly as one by one; and one scope's operations never share a call with another's.
/// The engine's clock is a fake one, so nothing here waits for time to pass.
/// </summary>
public sealed class ScopeBatchesTests : RedisEngineTests
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private static LimitPlan OneAtATime(string id, string scope) =>
        new(id, scope, [new WindowCheck("rpm", LimitKind.Requests, 1_000, 1)], [new ConcurrencyCheck("inflight", 1)], [], Window, TimeSpan.FromMinutes(1));

    [Fact]
    public async Task Settlement_RidesOnTheNextAdmission_OrGoesWhenTheLingerIsOver()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = new RedisLimitEngine(new RedisStore(Connection, "sb1:"), clock);
        var db = Connection.GetDatabase();

        Assert.True((await engine.AdmitAsync(OneAtATime("a", "k1"), DateTimeOffset.MaxValue)).Admitted);
        await Redis.CliAsync("CONFIG", "RESETSTAT");
        var settleA = engine.SettleAsync(Settlement.For(OneAtATime("a", "k1"), 0, 0));
        // Held back for the scope's next admission: the one slot is still taken in Redis.
        Assert.False(settleA.IsCompleted);
        Assert.Equal(1, await db.SortedSetLengthAsync("sb1:rl:{k:k1}:inflight"));

        // The next admission carries it, settlement first: the slot request "a" left is free for "b", in one call.
        Assert.True((await engine.AdmitAsync(OneAtATime("b", "k1"), DateTimeOffset.MaxValue)).Admitted);
        await settleA;
        Assert.Contains("cmdstat_evalsha:calls=1,", await Redis.CliAsync("INFO", "commandstats"), StringComparison.Ordinal);

        // No admission follows: when the linger is over, the settlement goes on its own.
        var settleB = engine.SettleAsync(Settlement.For(OneAtATime("b", "k1"), 0, 0));
        Assert.False(settleB.IsCompleted);
        clock.Advance(ScopeBatches.SettlementLinger);
        await settleB.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await db.SortedSetLengthAsync("sb1:rl:{k:k1}:inflight"));
    }

    [Fact]
    public async Task AStoppingReplica_SendsWhatWaits()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = new RedisLimitEngine(new RedisStore(Connection, "sb2:"), clock);
        Assert.True((await engine.AdmitAsync(OneAtATime("a", "k1"), DateTimeOffset.MaxValue)).Admitted);
        var settle = engine.SettleAsync(Settlement.For(OneAtATime("a", "k1"), 0, 0));
        Assert.False(settle.IsCompleted);

        await engine.FlushAsync();

        Assert.True(settle.IsCompletedSuccessfully);
        Assert.Equal(0, await Connection.GetDatabase().SortedSetLengthAsync("sb2:rl:{k:k1}:inflight"));
    }

    [Fact]
    public async Task AdmissionsGatheredInFlight_AreDecidedExactly_AndNeverShareACallWithAnotherScope()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var engine = new RedisLimitEngine(new RedisStore(Connection, "sb3:"), clock);
        using var admin = await ConnectionMultiplexer.ConnectAsync(Redis.Configuration + ",allowAdmin=true");
        var server = admin.GetServer(admin.GetEndPoints()[0]);
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-log-slower-than", "0");
        await server.ExecuteAsync("CONFIG", "SET", "slowlog-max-len", "10000");
        await server.ExecuteAsync("SLOWLOG", "RESET");

        // Redis frozen while two keys ask at once: the first admission of each is in flight, the rest gather behind it.
        LimitPlan Plan(string scope, int i) =>
            new($"{scope}-{i}", scope, [new WindowCheck("rpm", LimitKind.Requests, 25, 1)], [new ConcurrencyCheck("inflight", 40)], [], Window, TimeSpan.FromMinutes(1));
        await Redis.PauseAsync();
        List<Task<AdmissionResult>> decisions;
        try
        {
            decisions = [.. Enumerable.Range(0, 60).SelectMany(i => new[] { engine.AdmitAsync(Plan("k1", i), DateTimeOffset.MaxValue), engine.AdmitAsync(Plan("k2", i), DateTimeOffset.MaxValue) })];
        }
        finally
        {
            await Redis.ResumeAsync();
        }

        var results = await Task.WhenAll(decisions).WaitAsync(TimeSpan.FromSeconds(30));

        // Exactly as one by one: each key's 25 requests a window, whatever the batching.
        Assert.Equal(25, results.Where((_, i) => i % 2 == 0).Count(r => r.Admitted));
        Assert.Equal(25, results.Where((_, i) => i % 2 == 1).Count(r => r.Admitted));
        Assert.All(results.Where(r => !r.Admitted), r => Assert.Equal(0, r.RejectedIndex));

        // The slow log lists the newest first: reversed, in the order Redis ran them.
        var calls = ((RedisResult[])(await server.ExecuteAsync("SLOWLOG", "GET", "10000"))!).Reverse()
            .Select(e => ((RedisResult[])((RedisResult[])e!)[3]!).Select(a => (string)a!).ToArray())
            .Where(a => a[0].Equals("EVALSHA", StringComparison.OrdinalIgnoreCase) || a[0].Equals("EVAL", StringComparison.OrdinalIgnoreCase))
            .ToList();
        // Gathered: 120 admissions in far fewer calls.
        Assert.InRange(calls.Count, 2, 20);
        // Strangers: the second key's first admission went at once, not behind the first key's call that had not answered.
        Assert.NotEqual(Tag(calls[0]), Tag(calls[1]));
        foreach (var call in calls)
        {
            Assert.Single(Tags(call));
        }

        static string Tag(string[] call) => Tags(call)[0];

        static List<string> Tags(string[] call)
        {
            // The slow log keeps a call's first 32 arguments: the keys it shows are enough to tell whose they are.
            var keys = call.Skip(3).Take(int.Parse(call[2], System.Globalization.CultureInfo.InvariantCulture))
                .Where(k => k.Contains('{', StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(keys);
            return [.. keys.Select(k => k[(k.IndexOf('{', StringComparison.Ordinal) + 1)..k.IndexOf('}', StringComparison.Ordinal)]).Distinct()];
        }
    }

    /// <summary>
    /// The keys of a team share a scope, so their operations share a script call, and with it the call's table of numbers
    /// already printed (LimitScripts: the lease's end, the bucket, the period, the expiries). Two keys whose plans differ in
    /// every such number (window, lease, budget period), gathered into one call: each key's counters and reservation hold
    /// its own figures, not the other's.
    /// </summary>
    [Fact]
    public async Task KeysOfATeam_InOneCall_EachKeepTheirOwnPrintedFigures()
    {
        var engine = new RedisLimitEngine(new RedisStore(Connection, "sb6:"), new FakeTimeProvider(DateTimeOffset.UtcNow));
        var scope = LimitPlan.TeamScope("team6");
        LimitPlan Plan(string key, string id, TimeSpan window, TimeSpan lease, BudgetPeriod period) =>
            new(id, scope, [new WindowCheck("rpm:" + key, LimitKind.Requests, 1_000, 1)], [new ConcurrencyCheck("inflight", 100)],
                [new BudgetCheck("budget:" + key, 1_000_000, 5, period)], window, lease)
            {
                Recovery = new LostRecord("rec_" + id, "req_" + id, key, "m", 1, 1, 5, false),
            };

        // Redis frozen: the first admission goes at once and waits; the two keys' next ones gather behind it, into one call.
        await Redis.PauseAsync();
        Task<AdmissionResult>[] admissions;
        try
        {
            var first = engine.AdmitAsync(Plan("a", "a-0", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), BudgetPeriod.Day), DateTimeOffset.MaxValue);
            admissions =
            [
                first,
                engine.AdmitAsync(Plan("a", "a-1", TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1), BudgetPeriod.Day), DateTimeOffset.MaxValue),
                engine.AdmitAsync(Plan("b", "b-1", TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), BudgetPeriod.Month), DateTimeOffset.MaxValue),
            ];
        }
        finally
        {
            await Redis.ResumeAsync();
        }

        Assert.All(await Task.WhenAll(admissions).WaitAsync(TimeSpan.FromSeconds(30)), r => Assert.True(r.Admitted));
        var db = Connection.GetDatabase();
        var a = (await db.HashGetAllAsync("sb6:rl:{t:team6}:res:a-1")).ToDictionary(e => (string)e.Name!, e => e.Value);
        var b = (await db.HashGetAllAsync("sb6:rl:{t:team6}:res:b-1")).ToDictionary(e => (string)e.Name!, e => e.Value);
        // One call: one reading of Redis's clock for both.
        var now = (long)a["at"];
        Assert.Equal(now, (long)b["at"]);

        var day = now / 86_400_000;
        var date = DateTimeOffset.FromUnixTimeMilliseconds(now).UtcDateTime;
        var month = (date.Year * 12) + date.Month;
        Assert.Equal((now / 1_000, day), ((long)a["bucket"], (long)a["period"]));
        Assert.Equal((now / 2_000, month), ((long)b["bucket"], (long)b["period"]));
        Assert.Equal(now + 60_000, (long)(await db.SortedSetScoreAsync("sb6:rl:{t:team6}:inflight", "a-1"))!);
        Assert.Equal(now + 300_000, (long)(await db.SortedSetScoreAsync("sb6:rl:{t:team6}:inflight", "b-1"))!);
        Assert.Equal(now / 1_000, (long)await db.HashGetAsync("sb6:rl:{t:team6}:w2:rpm:a", "n"));
        Assert.Equal(now / 2_000, (long)await db.HashGetAsync("sb6:rl:{t:team6}:w2:rpm:b", "n"));
        Assert.Equal(day, (long)await db.HashGetAsync("sb6:rl:{t:team6}:budget:a", "period"));
        Assert.Equal(month, (long)await db.HashGetAsync("sb6:rl:{t:team6}:budget:b", "period"));
        // Each reservation lives its own lease and window past now, plus the hour a survivor has to find it.
        Assert.InRange((await db.KeyTimeToLiveAsync("sb6:rl:{t:team6}:res:a-1"))!.Value.TotalMilliseconds, 3_600_000 + 60_000 + 60_000 - 30_000, 3_600_000 + 60_000 + 60_000);
        Assert.InRange((await db.KeyTimeToLiveAsync("sb6:rl:{t:team6}:res:b-1"))!.Value.TotalMilliseconds, 3_600_000 + 300_000 + 120_000 - 30_000, 3_600_000 + 300_000 + 120_000);
    }

    /// <summary>
    /// The engine names each scope's counters once and keeps the names (one cache every key shares): a key's names are its
    /// own. Three scopes with the same counter ids (two keys alone, and a team) each fill their own one slot, one after
    /// another, in the order asked, and each finds its own counters where the layout puts them.
    /// </summary>
    [Fact]
    public async Task CountersNamedOnce_AreEachScopesOwn()
    {
        var engine = new RedisLimitEngine(new RedisStore(Connection, "sb5:"), new FakeTimeProvider(DateTimeOffset.UtcNow));
        string[] scopes = ["k1", "k2", LimitPlan.TeamScope("k1")];
        for (var round = 0; round < 2; round++)
        {
            foreach (var scope in scopes)
            {
                // The second round finds every scope's one slot taken by its own first request, whatever the others did.
                Assert.Equal(round == 0, (await engine.AdmitAsync(OneAtATime($"{scope}-{round}", scope), DateTimeOffset.MaxValue)).Admitted);
            }
        }

        var db = Connection.GetDatabase();
        foreach (var inflight in new[] { "sb5:rl:{k:k1}:inflight", "sb5:rl:{k:k2}:inflight", "sb5:rl:{t:k1}:inflight" })
        {
            Assert.Equal(1, await db.SortedSetLengthAsync(inflight));
        }
    }
}
