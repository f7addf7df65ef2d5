using Gateway.Requests;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// Where a reservation that may need recovering is listed. Record ids carry their seen-marker bucket now (RecordIds), and
/// a replica of the release before marks a record it recovers with a key of its own: were it to sweep this release's
/// reservations, a request recovered by it and also recorded late by its own replica would count twice. So this
/// release lists its reservations where the earlier one never looks, and still sweeps the earlier one's list.
/// </summary>
public sealed class LostReservationListsTests : RedisEngineTests
{
    [Fact]
    public async Task ThisReleasesReservations_AreListedApartFromTheEarlierOnes_AndBothAreClaimedOnce()
    {
        var engine = new RedisLimitEngine(new RedisStore(Connection, "lr:"), new FakeTimeProvider(DateTimeOffset.UtcNow));
        var db = Connection.GetDatabase();
        var id = RecordIds.New();
        var plan = new LimitPlan(id, "k1", [new WindowCheck("rpm", LimitKind.Requests, 1_000, 1)], [new ConcurrencyCheck("inflight", 5)], [],
            TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { Recovery = new LostRecord(id, "req-new", "key", "m", 10, 20, 30, Streamed: false) };

        Assert.True((await engine.AdmitAsync(plan, DateTimeOffset.MaxValue)).Admitted);

        Assert.Equal(1, await db.SortedSetLengthAsync("lr:rl:{k:k1}:open2"));
        // The earlier release's sweep reads this list only: it finds nothing of this release's.
        Assert.False(await db.KeyExistsAsync("lr:rl:{k:k1}:open"));

        // A reservation the earlier release left (its list, its id form, its reservation hash), its lease ended a second ago.
        var earlierId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        var admittedAt = DateTimeOffset.UtcNow.AddMinutes(-1);
        await db.SortedSetAddAsync("lr:rl:{k:k1}:open", earlierId, admittedAt.AddSeconds(59).ToUnixTimeMilliseconds());
        await db.HashSetAsync("lr:rl:{k:k1}:res:" + earlierId, [
            new("state", "booked"), new("lost", new LostRecord(earlierId, "req-old", "key", "m", 1, 2, 3, Streamed: true).Pack()),
            new("at", admittedAt.ToUnixTimeMilliseconds()),
        ]);

        // A grace of minus two minutes counts this release's running lease as ended, without waiting for it to end.
        var claimed = await engine.ClaimLostAsync("k1", TimeSpan.FromMinutes(-2), 100);

        Assert.Equal(["req-new", "req-old"], claimed.Select(c => c.Record.RequestId).Order());
        Assert.Equal(earlierId, Assert.Single(claimed, c => c.Record.RequestId == "req-old").Record.RecordId);
        Assert.Equal(id, Assert.Single(claimed, c => c.Record.RequestId == "req-new").Record.RecordId);
        // Claimed once: neither list holds them, and a second sweep finds nothing.
        Assert.Equal(0, await db.SortedSetLengthAsync("lr:rl:{k:k1}:open2") + await db.SortedSetLengthAsync("lr:rl:{k:k1}:open"));
        Assert.Empty(await engine.ClaimLostAsync("k1", TimeSpan.FromMinutes(-2), 100));
    }
}
