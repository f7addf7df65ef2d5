using System.Globalization;
using Gateway.Requests;

namespace Gateway.Tests.Requests;

/// <summary>
/// A record's UTC day and hour name the journal file and the rollups it is counted in. They are kept for the last hour
/// asked (UtcHourNames): whatever order records of different hours come in, from however many threads, each must get
/// its own hour's names, as formatting its timestamp would give them.
/// </summary>
public sealed class UsageRecordPeriodTests
{
    [Fact]
    public void RecordsOfNeighbouringHoursAndDays_InAnyOrder_EachGetTheirOwnNames()
    {
        var stamps = new[]
        {
            new DateTimeOffset(2026, 11, 30, 7, 59, 59, 999, TimeSpan.Zero),
            new DateTimeOffset(2026, 11, 30, 8, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 11, 30, 7, 0, 0, TimeSpan.Zero),
            new DateTimeOffset(2026, 11, 30, 23, 59, 59, TimeSpan.Zero),
            new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero),
            // Offsets other than UTC name the UTC hour: 05:30 at +05:30 is midnight UTC.
            new DateTimeOffset(2026, 12, 1, 5, 30, 0, TimeSpan.FromHours(5.5)),
            new DateTimeOffset(2026, 11, 30, 7, 15, 0, TimeSpan.Zero),
            // The same hour of the day, a day later: a cache keyed by the hour of the day alone would answer the day before.
            new DateTimeOffset(2026, 12, 1, 7, 30, 0, TimeSpan.Zero),
        };

        foreach (var stamp in stamps.Concat(stamps.Reverse()))
        {
            var record = Record(stamp);
            Assert.Equal(Expected(stamp), (record.Day, record.Hour));
        }

        Assert.Equal(("2026-12-01", "2026-12-01T00"), (Record(stamps[5]).Day, Record(stamps[5]).Hour));
    }

    [Fact]
    public async Task ManyThreads_RecordsOfManyHours_EachGetTheirOwnNames()
    {
        var origin = new DateTimeOffset(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);
        var wrong = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(() =>
        {
            var random = new Random(worker);
            for (var i = 0; i < 20_000; i++)
            {
                var stamp = origin.AddMinutes(random.Next(0, 60 * 72));
                var record = Record(stamp);
                if ((record.Day, record.Hour) != Expected(stamp))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        })));

        Assert.Equal(0, wrong);
    }

    private static (string, string) Expected(DateTimeOffset stamp) =>
        (stamp.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            stamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH", CultureInfo.InvariantCulture));

    private static UsageRecord Record(DateTimeOffset stamp) => new()
    {
        Id = "u1", RequestId = "r1", Key = "k", Model = "m", Status = 200, Outcome = "ok", Timestamp = stamp,
    };
}
