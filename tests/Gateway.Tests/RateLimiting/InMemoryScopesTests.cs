using Gateway.Configuration;
using Gateway.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The in-memory engine keeps each scope's counters apart (one object per scope, its counters by their short ids): a
/// key's scope, a team's and the provider pacer's may use the same counter ids and never share a count.
/// </summary>
public sealed class InMemoryScopesTests
{
    private static readonly DateTimeOffset Far = DateTimeOffset.MaxValue;

    // Two requests a minute, five in flight, a day's budget of 100 micro-dollars at 60 a request.
    private static LimitPlan Plan(string scope, string reservation) => new(reservation, scope,
        [new WindowCheck("rpm", LimitKind.Requests, 2, 1)], [new ConcurrencyCheck("conc", 5)],
        [new BudgetCheck("usd", 100, 60, BudgetPeriod.Day)], TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));

    [Fact]
    public async Task ScopesWithTheSameCounterIds_CountApart_AndSettleApart()
    {
        var engine = new InMemoryLimitEngine(new FakeTimeProvider(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero)));

        Assert.True((await engine.AdmitAsync(Plan("k1", "a"), Far)).Admitted);
        // A second request of the key's scope would spend 120 of its 100: refused. The team's scope has its own budget.
        Assert.False((await engine.AdmitAsync(Plan("k1", "b"), Far)).Admitted);
        Assert.True((await engine.AdmitAsync(Plan("t:k1", "c"), Far)).Admitted);
        Assert.Equal((1, 1), (engine.InFlight("k1", "conc"), engine.InFlight("t:k1", "conc")));
        // The pacer's window named like the key's scope is its own: one a minute, and the key's request took none of it.
        Assert.True((await engine.TryAcquireAsync("k1", 1, TimeSpan.FromMinutes(1))).Admitted);
        Assert.False((await engine.TryAcquireAsync("k1", 1, TimeSpan.FromMinutes(1))).Admitted);

        // Settling the key's request (it spent nothing) frees its slot and its budget, and nothing of the team's.
        await engine.SettleAsync(Settlement.For(Plan("k1", "a"), 0, 0));
        Assert.Equal((0, 1), (engine.InFlight("k1", "conc"), engine.InFlight("t:k1", "conc")));
        Assert.True((await engine.AdmitAsync(Plan("k1", "d"), Far)).Admitted);
        Assert.False((await engine.AdmitAsync(Plan("t:k1", "e"), Far)).Admitted);
    }
}
