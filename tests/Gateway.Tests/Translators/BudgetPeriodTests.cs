using Gateway.Configuration;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Gateway.Tests.Translators;

/// <summary>Budget periods roll over at UTC midnight and at the first of the month, in Lua and in C# alike.</summary>
public sealed class BudgetPeriodTests : IAsyncLifetime
{
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    public static TheoryData<string> Instants =>
    [
        "2026-01-31T23:59:59.999Z", "2026-02-01T00:00:00Z", "2026-02-28T12:00:00Z", "2028-02-29T23:00:00Z",
        "2026-12-31T23:59:59Z", "2027-01-01T00:00:00.001Z", "2026-11-22T06:30:00Z",
    ];

    [Theory]
    [MemberData(nameof(Instants))]
    public async Task LuaPeriods_MatchTheCalendar(string instant)
    {
        var at = DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture);
        var ms = at.ToUnixTimeMilliseconds();
        using var connection = RedisConnection.Connect(new RedisOptions { Configuration = _redis.Configuration }, NullLogger.Instance);
        var redis = new RedisStore(connection, "gw:");
        // The admission script's own calendar code, with "now" pinned to the instant under test. Each kind is worked out once
        // per call and then remembered: asked again, in the other order, each answers what it answered first.
        var script = LimitScripts.Prelude + $"\nnow = {ms}\nlocal d, du = period('day')\nlocal m, mu = period('month')\n"
            + "local m2, mu2 = period('month')\nlocal d2, du2 = period('day')\nreturn {d, du, m, mu, d2, du2, m2, mu2}";
        var r = (RedisResult[])(await redis.EvalAsync(new RedisScript("test.period", script), [], []))!;
        Assert.Equal([.. r[..4].Select(x => (long)x)], r[4..].Select(x => (long)x).ToArray());

        var nextDay = new DateTimeOffset(at.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
        var nextMonth = new DateTimeOffset(at.Year, at.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        Assert.Equal(ms / 86_400_000, (long)r[0]);
        Assert.Equal(nextDay.ToUnixTimeMilliseconds() - ms, (long)r[1]);
        Assert.Equal((at.Year * 12) + at.Month, (long)r[2]);
        Assert.Equal(nextMonth.ToUnixTimeMilliseconds() - ms, (long)r[3]);
    }

    [Fact]
    public async Task InMemoryBudget_RollsOverAtTheNextDay()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-11-22T23:59:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var engine = new InMemoryLimitEngine(clock);
        LimitPlan Plan(string id) => new(id, "k", [], [], [new BudgetCheck("budget", 100, 60, BudgetPeriod.Day)], TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

        Assert.True((await engine.AdmitAsync(Plan("a"), DateTimeOffset.MaxValue)).Admitted);
        var refused = await engine.AdmitAsync(Plan("b"), DateTimeOffset.MaxValue);
        Assert.False(refused.Admitted);
        Assert.Equal(TimeSpan.FromMinutes(1), refused.RetryAfter);

        clock.Now = clock.Now.AddMinutes(1);
        Assert.True((await engine.AdmitAsync(Plan("c"), DateTimeOffset.MaxValue)).Admitted);
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
