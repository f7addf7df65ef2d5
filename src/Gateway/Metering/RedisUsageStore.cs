using System.Text.Json;
using Gateway.Redis;
using StackExchange.Redis;

namespace Gateway.Metering;

/// <summary>
/// Usage in Redis: per day a hash of rollup cells (key, model, provider, counter), the same per hour for the last days,
/// and an append-only event stream capped in length, all written in one Lua step per batch that skips records already
/// taken (by id), so a retried write never counts twice.
/// </summary>
internal sealed class RedisUsageStore(RedisStore redis, MeteringSettings settings) : IUsageStore, Lifecycle.IWarmUp
{
    public Task WarmUpAsync() => redis.PreloadAsync([WriteScript]);

    private const char Separator = '\u001f';
    private const int ReadsInFlight = 4;

    // Per record, KEYS: seen marker, day hash, hour hash, stream. ARGV: n, seenTtl, streamMaxLen, dayTtl, hourTtl,
    // m (counters per record), the m counter names (RollupTotals.Metrics), then per record: dims, m counters, json.
    // The batch's new records are summed per hash field first, and each field is incremented once: records of one key,
    // model and provider in one hour (most of a batch) cost one HINCRBY per counter, not one each.
    private static readonly RedisScript WriteScript = new("usage.write", """
        local n, seenTtl, maxlen, dayTtl, hourTtl, m = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
        local written, expiring, sums, order = 0, {}, {}, {}
        local function add(hash, field, v)
          local id = hash .. '\0' .. field
          local s = sums[id]
          if s then s[3] = s[3] + v else sums[id] = { hash, field, v }; order[#order + 1] = id end
        end
        for i = 0, n - 1 do
          local a = 7 + m + i * (m + 2)
          if redis.call('SET', KEYS[i * 4 + 1], '1', 'NX', 'EX', seenTtl) then
            local day, hour = KEYS[i * 4 + 2], KEYS[i * 4 + 3]
            for c = 1, m do
              local v = tonumber(ARGV[a + c])
              if v ~= 0 then
                local field = ARGV[a] .. ARGV[6 + c]
                add(day, field, v)
                add(hour, field, v)
              end
            end
            if not expiring[day] then expiring[day] = dayTtl end
            if not expiring[hour] then expiring[hour] = hourTtl end
            redis.call('XADD', KEYS[i * 4 + 4], 'MAXLEN', '~', maxlen, '*', 'record', ARGV[a + m + 1])
            written = written + 1
          end
        end
        for _, id in ipairs(order) do
          local s = sums[id]
          redis.call('HINCRBY', s[1], s[2], s[3])
        end
        for hash, ttl in pairs(expiring) do redis.call('EXPIRE', hash, ttl) end
        return written
        """);

    public async Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        var keys = new List<RedisKey>(batch.Count * 4);
        var metrics = RollupTotals.Metrics;
        var args = new List<RedisValue>(5 + metrics.Length + batch.Count * (metrics.Length + 2))
        {
            batch.Count, (long)TimeSpan.FromDays(7).TotalSeconds, settings.StreamMaxLength, (long)TimeSpan.FromDays(settings.RetentionDays + 1).TotalSeconds,
            (long)TimeSpan.FromDays(UsageQuery.HourlyDays + 1).TotalSeconds, metrics.Length,
        };
        foreach (var name in metrics)
        {
            args.Add(name);
        }

        var stream = redis.Key("{usage}:events");
        foreach (var r in batch)
        {
            keys.Add(redis.Key("{usage}:seen:" + r.Id));
            keys.Add(redis.Key("{usage}:day:" + r.Day));
            keys.Add(redis.Key("{usage}:hour:" + r.Hour));
            keys.Add(stream);
            var k = RollupKey.Of(r);
            args.Add($"{k.Key}{Separator}{k.Model}{Separator}{k.Provider}{Separator}");
            foreach (var v in new RollupTotals().Values(r))
            {
                args.Add(v);
            }

            args.Add(JsonSerializer.Serialize(r, UsageJson.Default.UsageRecord));
        }

        await redis.EvalAsync(WriteScript, [.. keys], [.. args]).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
    }

    public async Task<List<(RollupKey Key, RollupTotals Totals)>> ReadRollupsAsync(IEnumerable<string> days, CancellationToken cancellationToken)
    {
        // A few periods' hashes at a time: each is a reply of up to a few hundred KB (a month of 50 keys x 10 models is about
        // 100,000 fields), and on the one shared connection every reply in flight is one an admission may queue behind. Four
        // at a time keeps that wait to milliseconds, and every read within its command timeout (all at once, a dashboard
        // refresh timed out at 500 ms).
        var periods = days.ToList();
        var all = new HashEntry[periods.Count][];
        for (var first = 0; first < periods.Count; first += ReadsInFlight)
        {
            var batch = Enumerable.Range(first, Math.Min(ReadsInFlight, periods.Count - first)).ToList();
            var replies = await Task.WhenAll(batch.Select(p => redis.RunAsync("usage.read",
                db => db.HashGetAllAsync(redis.Key((periods[p].Length > 10 ? "{usage}:hour:" : "{usage}:day:") + periods[p])))))
                .WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            for (var i = 0; i < batch.Count; i++)
            {
                all[batch[i]] = replies[i];
            }
        }

        var cells = new List<(RollupKey, RollupTotals)>();
        for (var p = 0; p < periods.Count; p++)
        {
            var byCell = new Dictionary<RollupKey, RollupTotals>();
            foreach (var entry in all[p])
            {
                var parts = ((string)entry.Name!).Split(Separator);
                if (parts.Length != 4)
                {
                    continue;
                }

                var key = new RollupKey(periods[p], parts[0], parts[1], parts[2]);
                if (!byCell.TryGetValue(key, out var totals))
                {
                    byCell[key] = totals = new RollupTotals();
                }

                totals.Set(parts[3], (long)entry.Value);
            }

            cells.AddRange(byCell.Select(c => (c.Key, c.Value)));
        }

        return cells;
    }
}
