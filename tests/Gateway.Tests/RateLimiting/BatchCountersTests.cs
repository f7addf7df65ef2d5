using System.Globalization;
using Gateway.Configuration;
using Gateway.RateLimiting;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// A batch (<see cref="LimitScripts.Batch"/>) keeps the counters it touches in the script and writes them back once, at its
/// end (<see cref="LimitScripts.Counters"/>). It must leave Redis exactly as the same operations leave it run one by one,
/// each command sent to Redis when the operation makes it (<see cref="LimitScripts.Admit"/> and
/// <see cref="LimitScripts.Settle"/> with <see cref="CommandByCommand"/> in place of the counters' memo), and answer each
/// the same. Two copies of one scope take the same random sequence of
/// admissions, settlements, cancellations, stale and cancelled admissions, over clock steps that sweep buckets, empty
/// whole windows and start new budget days, months and a year: one copy in batches of one to eight, the other one
/// operation per call. After every batch each answer, and every key's type, contents and expiry, must agree.
/// "Now" is the test's (the scripts' clock read from their last argument), so nothing waits.
/// </summary>
public sealed class BatchCountersTests : IAsyncLifetime
{
    private const string Clock = "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)";
    private const string PinnedClock = "local now = tonumber(ARGV[#ARGV])";
    private const long WindowMs = 60_000;
    private const long BucketMs = 1_000;
    private const long LeaseMs = 60_000;

    /// <summary>The counters' functions as plain commands, each sent when called: the semantics the memo must keep.</summary>
    private const string CommandByCommand = """
        local function hget(key, fields)
          for i = 1, #fields do fields[i] = tostring(fields[i]) end
          return redis.call('HMGET', key, unpack(fields))
        end
        local function hset(key, ...) redis.call('HSET', key, ...) end
        local function hincrby(key, field, by) redis.call('HINCRBY', key, field, by) end
        local function hdel(key, fields) redis.call('HDEL', key, unpack(fields)) end
        local function hwipe(key) redis.call('DEL', key) end
        local function hpexpire(key, ms) redis.call('PEXPIRE', key, ms) end
        local function hflush(key) end
        local function hexists(key) return redis.call('EXISTS', key) == 1 end
        local function zpexpire(key, ms) redis.call('PEXPIRE', key, ms) end
        local function flush() end
        """;

    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync();

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task ABatch_LeavesWhatTheSameOperationsOneByOneLeave(int seed)
    {
        Assert.Contains(Clock, LimitScripts.Batch, StringComparison.Ordinal);
        using var connection = RedisConnection.Connect(new RedisOptions { Configuration = _redis.Configuration, CommandTimeoutMilliseconds = 10_000 },
            NullLogger.Instance);
        var batched = new RedisStore(connection, $"b{seed}:");
        var single = new RedisStore(connection, $"s{seed}:");
        var batch = new RedisScript($"test.batch.{seed}", LimitScripts.Batch.Replace(Clock, PinnedClock, StringComparison.Ordinal));
        Assert.Contains(LimitScripts.Counters, LimitScripts.Admit, StringComparison.Ordinal);
        Assert.Contains(LimitScripts.Counters, LimitScripts.Settle, StringComparison.Ordinal);
        var admit = new RedisScript($"test.admit.{seed}", LimitScripts.Admit.Replace(Clock, PinnedClock, StringComparison.Ordinal)
            .Replace(LimitScripts.Counters, CommandByCommand, StringComparison.Ordinal));
        var settle = new RedisScript("test.settle", LimitScripts.Settle.Replace(LimitScripts.Counters, CommandByCommand, StringComparison.Ordinal));
        var random = new Random(seed);
        // Two minutes before a new year: the budgets' day, month and year all turn during the run.
        var now = DateTimeOffset.Parse("2026-12-31T23:58:00Z", CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
        var booked = new List<string>();
        var tombstoned = new List<string>();
        var next = 0;
        var compared = 0;

        for (var round = 0; round < 150; round++)
        {
            now += Step(random);
            var ops = new List<Op>();
            for (var count = random.Next(1, 9); ops.Count < count;)
            {
                ops.Add(NextOp(random, booked, tombstoned, ref next, now));
            }

            // The batched copy: one call. The single copy: one call per operation, in the same order, at the same "now".
            var answers = (RedisResult[])(await batched.EvalAsync(batch, [.. ops.SelectMany(o => o.Keys(batched))], BatchArgs(ops, now)))!;
            Assert.Equal(ops.Count, answers.Length);
            for (var i = 0; i < ops.Count; i++)
            {
                var op = ops[i];
                var alone = await single.EvalAsync(op.Admission ? admit : settle, op.Keys(single),
                    op.Admission ? [.. op.Args, now] : op.Args);
                var context = $"seed {seed}, round {round}, operation {i} ({op})";
                Assert.True(Flat(answers[i]) == Flat(alone), $"{context}: batched {Flat(answers[i])}, one by one {Flat(alone)}");
            }

            compared += await AssertSameStateAsync(connection, batched.KeyPrefix, single.KeyPrefix, $"seed {seed}, round {round}");
        }

        // The sequence reached every path that writes counters, not just the common one.
        Assert.True(compared > 0);
        Assert.True(next > 300, $"only {next} operations");
    }

    private static long Step(Random random) => random.Next(0, 20) switch
    {
        0 => random.Next(61_000, 200_000), // past the whole window: it starts over
        1 => random.Next(3, 30) * 3_600_000L, // hours: a new budget day, now and then a month and a year
        < 8 => random.Next(1_000, 20_000), // buckets leave the window and are swept
        _ => random.Next(0, 400),
    };

    private static Op NextOp(Random random, List<string> booked, List<string> tombstoned, ref int next, long now)
    {
        var pick = random.Next(0, 20);
        if (pick < 10 || booked.Count == 0)
        {
            // An admission; one in twelve comes too late for its deadline.
            // Settled from here on, even within its own batch (a batch applies any order, as calls one by one would); one that
            // was refused has nothing to settle, in both copies.
            var member = $"r{next++}";
            booked.Add(member);
            var deadline = random.Next(0, 12) == 0 ? now - 1 : 0;
            return Op.Admit(member, tokens: random.Next(1, 60), cost: random.Next(0, 400), deadline);
        }

        if (pick < 16)
        {
            var member = booked[random.Next(booked.Count)];
            booked.Remove(member);
            return Op.Settle(member, tokens: random.Next(0, 80), cost: random.Next(0, 500), cancel: random.Next(0, 4) == 0);
        }

        if (pick < 18)
        {
            // Cancelled before its admission ran (a tombstone); that admission, coming later, takes nothing (-3).
            if (tombstoned.Count > 0 && random.Next(0, 2) == 0)
            {
                var late = tombstoned[random.Next(tombstoned.Count)];
                tombstoned.Remove(late);
                return Op.Admit(late, 5, 5, 0);
            }

            var member = $"r{next++}";
            tombstoned.Add(member);
            return Op.Settle(member, 0, 0, cancel: true);
        }

        // Settled again (already gone): nothing to settle.
        next++;
        return Op.Settle($"r{random.Next(0, next)}", tokens: 3, cost: 3, cancel: false);
    }

    private static RedisValue[] BatchArgs(List<Op> ops, long now)
    {
        var args = new List<RedisValue> { ops.Count };
        foreach (var op in ops)
        {
            args.Add(op.Admission ? "a" : "s");
            args.Add(Op.KeyCount);
            args.Add(op.Args.Length);
            args.AddRange(op.Args);
        }

        args.Add(now);
        return [.. args];
    }

    /// <summary>Every key of the two copies, by its name within the copy: the same type, contents and expiry (to the second).</summary>
    private static async Task<int> AssertSameStateAsync(IConnectionMultiplexer connection, string left, string right, string context)
    {
        var server = connection.GetServers()[0];
        var db = connection.GetDatabase();
        var leftKeys = server.Keys(pattern: left + "*").Select(k => ((string)k!)[left.Length..]).Order(StringComparer.Ordinal).ToList();
        var rightKeys = server.Keys(pattern: right + "*").Select(k => ((string)k!)[right.Length..]).Order(StringComparer.Ordinal).ToList();
        Assert.True(leftKeys.SequenceEqual(rightKeys), $"{context}: keys [{string.Join(", ", leftKeys)}] / [{string.Join(", ", rightKeys)}]");
        foreach (var name in leftKeys)
        {
            var (a, b) = (await DumpAsync(db, left + name), await DumpAsync(db, right + name));
            Assert.True(a.Contents == b.Contents, $"{context}, {name}: {a.Contents} / {b.Contents}");
            Assert.True(a.TtlMs < 0 == b.TtlMs < 0 && Math.Abs(a.TtlMs - b.TtlMs) < 1_000, $"{context}, {name}: expiry {a.TtlMs} / {b.TtlMs} ms");
        }

        return leftKeys.Count;
    }

    private static async Task<(string Contents, long TtlMs)> DumpAsync(IDatabase db, string key)
    {
        var type = await db.KeyTypeAsync(key);
        var contents = type switch
        {
            RedisType.Hash => string.Join(",", (await db.HashGetAllAsync(key)).Select(e => $"{e.Name}={e.Value}").Order(StringComparer.Ordinal)),
            RedisType.SortedSet => string.Join(",", (await db.SortedSetRangeByRankWithScoresAsync(key)).Select(e => $"{e.Element}@{e.Score}")),
            _ => type.ToString(),
        };
        var ttl = (long)(await db.ExecuteAsync("PTTL", key));
        return ($"{type}: {contents}", ttl);
    }

    private static string Flat(RedisResult? result) => result is null ? "null"
        : result.Resp2Type == ResultType.Array ? "[" + string.Join(",", ((RedisResult[])result!).Select(Flat)) + "]"
        : result.IsNull ? "nil" : result.ToString();

    /// <summary>One admission or settlement of the scope: two windows (requests, tokens), one in-flight set, two budgets (day, month).</summary>
    private sealed record Op(bool Admission, string Member, RedisValue[] Args)
    {
        public const int KeyCount = 7;

        public RedisKey[] Keys(RedisStore store) =>
        [
            store.Key("w:rpm"), store.Key("w:tpm"), store.Key("run"), store.Key("bud:day"), store.Key("bud:month"),
            store.Key("res:" + Member), store.Key("open"),
        ];

        public static Op Admit(string member, int tokens, int cost, long deadline) => new(true, member,
        [
            2, 1, 2, WindowMs, BucketMs, member, LeaseMs, deadline,
            3, 1, 0, 150, tokens, 1,
            6,
            3_000, cost, "day", 20_000, cost, "month",
            $"lost:{member}",
        ]);

        public static Op Settle(string member, int tokens, int cost, bool cancel) =>
            new(false, member, [2, 1, 2, member, tokens, cost, cancel ? 1 : 0, 60_000]);

        public override string ToString() => $"{(Admission ? "admit" : "settle")} {Member} [{string.Join(" ", Args)}]";
    }
}
