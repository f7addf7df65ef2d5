using Gateway.Configuration;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The admission script's sliding windows keep a running total and sweep only the buckets that left the window, in Redis
/// hashes; the in-memory engine does the same in rings of its own (<see cref="SlidingWindow"/>), written apart from the
/// script. Both run the same random sequence of admissions, settlements and clock steps
/// (the script's clock pinned to the test's, so nothing waits): every decision, retry-after and count must agree, and
/// the stored total must always equal the buckets still in the window.
/// </summary>
public sealed class SlidingWindowScriptTests : IAsyncLifetime
{
    private const string Clock = "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";
    // The scripts are checked for what they decide, not for speed: a busy CI host's first script load may take a second.
    private const int TestTimeoutMs = 10_000;
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task RunningTotals_DecideExactlyAsSummingEveryBucket(int seed)
    {
        Assert.Contains(Clock, LimitScripts.Admit, StringComparison.Ordinal);
        using var connection = RedisConnection.Connect(new RedisOptions { Configuration = _redis.Configuration, CommandTimeoutMilliseconds = TestTimeoutMs }, NullLogger.Instance);
        var redis = new RedisStore(connection, $"sw{seed}:");
        // The script as the gateway runs it, with "now" taken from its last argument instead of Redis's clock.
        var admit = new RedisScript($"test.admit.{seed}", LimitScripts.Admit.Replace(Clock, "local now = tonumber(ARGV[#ARGV])", StringComparison.Ordinal));
        var settle = new RedisScript("test.settle", LimitScripts.Settle);
        var start = DateTimeOffset.Parse("2026-12-06T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var clock = new FakeTimeProvider(start);
        var memory = new InMemoryLimitEngine(clock);
        var random = new Random(seed);
        var window = TimeSpan.FromSeconds(1);
        RedisKey[] windows = [redis.Key("w:rpm"), redis.Key("w:tpm")];

        for (var step = 0; step < 600; step++)
        {
            clock.Advance(TimeSpan.FromMilliseconds(random.Next(0, 4) == 0 ? random.Next(200, 2500) : random.Next(0, 40)));
            var tokens = random.Next(1, 60);
            var plan = new LimitPlan($"r{step}", "k", [new WindowCheck("rpm", LimitKind.Requests, 12, 1), new WindowCheck("tpm", LimitKind.Tokens, 300, tokens)],
                [], [], window, TimeSpan.FromMinutes(1));
            var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
            var expected = await memory.AdmitAsync(plan, DateTimeOffset.MaxValue);
            var r = (RedisResult[])(await redis.EvalAsync(admit, [.. windows, redis.Key("res:" + plan.ReservationId)],
            [
                2, 0, 0, plan.WindowMs, plan.BucketMs, plan.ReservationId, 60_000, 0, 12, 1, 0, 300, tokens, 1, now,
            ]))!;

            var context = $"step {step} at +{now - start.ToUnixTimeMilliseconds()} ms";
            Assert.True(expected.Admitted == ((long)r[0] == 1), $"{context}: memory {expected.Admitted}, script {(long)r[0]}");
            Assert.True(expected.RejectedIndex == (int)(long)r[1], $"{context}: rejected {expected.RejectedIndex} / {(long)r[1]}");
            Assert.True((long)expected.RetryAfter.TotalMilliseconds == (long)r[2], $"{context}: retry {expected.RetryAfter.TotalMilliseconds} / {(long)r[2]}");
            for (var i = 0; i < 2; i++)
            {
                Assert.True(plan.Windows[i].Limit - expected.Windows[i].Remaining == Math.Min(plan.Windows[i].Limit, (long)r[6 + (2 * i)]),
                    $"{context}: window {i} used {plan.Windows[i].Limit - expected.Windows[i].Remaining} / {(long)r[6 + (2 * i)]}");
            }

            if (expected.Admitted && random.Next(0, 3) > 0)
            {
                // Settled to what was really used, in both.
                var actual = random.Next(0, tokens + 1);
                var settlement = Settlement.For(plan, actual, 0);
                await memory.SettleAsync(settlement);
                await redis.EvalAsync(settle, [.. windows, redis.Key("res:" + plan.ReservationId)],
                    [2, 0, 0, plan.ReservationId, actual, 0, 0, 60_000]);
            }

            await AssertTotalsAsync(connection.GetDatabase(), windows, now, plan, context);
        }
    }

    /// <summary>The stored running total of each window is the sum of its buckets still in the window.</summary>
    private static async Task AssertTotalsAsync(IDatabase db, RedisKey[] windows, long now, LimitPlan plan, string context)
    {
        var oldest = (now / plan.BucketMs) - (plan.WindowMs / plan.BucketMs) + 1;
        foreach (var key in windows)
        {
            var fields = await db.HashGetAllAsync(key);
            if (fields.Length == 0)
            {
                continue;
            }

            var total = fields.Where(f => f.Name == "t").Select(f => (long)f.Value).SingleOrDefault();
            var live = fields.Where(f => long.TryParse((string)f.Name!, out var b) && b >= oldest).Sum(f => (long)f.Value);
            var swept = fields.Where(f => f.Name == "o").Select(f => (long)f.Value).SingleOrDefault();
            // Buckets older than the last sweep are gone; those between it and the window's start are swept at the next look.
            var pending = fields.Where(f => long.TryParse((string)f.Name!, out var b) && b < oldest).Sum(f => (long)f.Value);
            Assert.True(total == live + pending, $"{context}: {key} total {total}, live {live}, not yet swept {pending} (swept up to {swept})");
        }
    }
}
