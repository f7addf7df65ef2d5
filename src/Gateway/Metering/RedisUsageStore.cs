using System.Text.Json;
using Gateway.Redis;
using StackExchange.Redis;
using Gateway.Requests;

namespace Gateway.Metering;

/// <summary>
/// Usage in Redis: per day a hash of rollup cells (key, model, provider, counter), the same per hour for the last days,
/// the same two again per client key (under its identity, so a key's own view reads only its own cells), and an
/// append-only event stream capped in length, all written in one Lua step per batch that skips records already taken
/// (by id), so a retried write never counts twice.
/// </summary>
internal sealed class RedisUsageStore(RedisStore redis, MeteringSettings settings) : IUsageStore, IWarmUp
{
    public Task WarmUpAsync() => redis.PreloadAsync([WriteScript]);

    private const char Separator = '\u001f';
    private const int ReadsInFlight = 4;

    // Per record, KEYS: seen marker, day hash, hour hash, the key's day hash, the key's hour hash, stream.
    // ARGV: n, seenTtl, streamMaxLen, dayTtl, hourTtl,
    // m (counters per record), the m counter names (RollupTotals.Metrics), then per record: dims, m counters, json.
    // The batch's new records are summed per hash field first, and each field is incremented once: records of one key,
    // model and provider in one hour (most of a batch) cost one HINCRBY per counter, not one each. A field names its key,
    // so the key's own hash and the shared one always get the same sum: it is counted once and written to both.
    private static readonly RedisScript WriteScript = new("usage.write", """
        local n, seenTtl, maxlen, dayTtl, hourTtl, m = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
        local written, expiring, sums, order = 0, {}, {}, {}
        local function add(own, shared, field, v)
          local id = own .. '\0' .. field
          local s = sums[id]
          if s then s[4] = s[4] + v else sums[id] = { own, shared, field, v }; order[#order + 1] = id end
        end
        for i = 0, n - 1 do
          local a = 7 + m + i * (m + 2)
          local k = i * 6
          if redis.call('SET', KEYS[k + 1], '1', 'NX', 'EX', seenTtl) then
            local day, hour, keyDay, keyHour = KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
            for c = 1, m do
              local v = tonumber(ARGV[a + c])
              if v ~= 0 then
                local field = ARGV[a] .. ARGV[6 + c]
                add(keyDay, day, field, v)
                add(keyHour, hour, field, v)
              end
            end
            expiring[day] = dayTtl
            expiring[hour] = hourTtl
            expiring[keyDay] = dayTtl
            expiring[keyHour] = hourTtl
            redis.call('XADD', KEYS[k + 6], 'MAXLEN', '~', maxlen, '*', 'record', ARGV[a + m + 1])
            written = written + 1
          end
        end
        for _, id in ipairs(order) do
          local s = sums[id]
          redis.call('HINCRBY', s[1], s[3], s[4])
          redis.call('HINCRBY', s[2], s[3], s[4])
        end
        for hash, ttl in pairs(expiring) do redis.call('EXPIRE', hash, ttl) end
        return written
        """);

    public async Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        var keys = new List<RedisKey>(batch.Count * 6);
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
            keys.Add(redis.Key(KeyPeriod(r.Day, r.KeyId)));
            keys.Add(redis.Key(KeyPeriod(r.Hour, r.KeyId)));
            keys.Add(stream);
            var k = RollupKey.Of(r);
            // A record with a team names it in a fifth part; without one the cell keeps the four parts it always had.
            args.Add(k.Team == RollupKey.NoTeam
                ? $"{k.Key}{Separator}{k.Model}{Separator}{k.Provider}{Separator}"
                : $"{k.Key}{Separator}{k.Model}{Separator}{k.Provider}{Separator}{k.Team}{Separator}");
            foreach (var v in new RollupTotals().Values(r))
            {
                args.Add(v);
            }

            args.Add(JsonSerializer.Serialize(r, UsageJson.Default.UsageRecord));
        }

        await redis.EvalAsync(WriteScript, [.. keys], [.. args]).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
    }

    /// <summary>The hash of one key's cells for one period (a day, or an hour); requests without a key share "-".</summary>
    private static string KeyPeriod(string period, string? keyId) =>
        (period.Length > 10 ? "{usage}:khour:" : "{usage}:kday:") + period + ":" + (keyId ?? "-");

    private string PeriodHash(string period, UsageScope scope) => redis.Key(scope.IsOwn
        ? KeyPeriod(period, scope.KeyId)
        : (period.Length > 10 ? "{usage}:hour:" : "{usage}:day:") + period);

    public async Task ReadRollupsAsync(IEnumerable<string> periods, UsageScope scope, Action<RollupKey, RollupTotals> take,
        CancellationToken cancellationToken)
    {
        // A few periods' hashes at a time, each handed on as soon as it arrives: a day of everyone's cells is a reply of up
        // to a few hundred KB (a month of 50 keys x 10 models is about 100,000 fields), and on the one shared connection
        // every reply in flight is one an admission may queue behind. Four at a time keeps that wait to milliseconds, and
        // every read within its command timeout; a key's own view reads only its own hashes.
        var all = periods.ToList();
        for (var first = 0; first < all.Count; first += ReadsInFlight)
        {
            var batch = all.GetRange(first, Math.Min(ReadsInFlight, all.Count - first));
            var replies = await Task.WhenAll(batch.Select(p => redis.RunAsync("usage.read", db => db.HashGetAllAsync(PeriodHash(p, scope)))))
                .WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
            for (var i = 0; i < batch.Count; i++)
            {
                Emit(batch[i], replies[i], take);
            }
        }
    }

    private static void Emit(string period, HashEntry[] entries, Action<RollupKey, RollupTotals> take)
    {
        var byCell = new Dictionary<RollupKey, RollupTotals>();
        foreach (var entry in entries)
        {
            var parts = ((string)entry.Name!).Split(Separator);
            if (parts.Length is not (4 or 5))
            {
                continue;
            }

            var key = new RollupKey(period, parts[0], parts[1], parts[2], parts.Length == 5 ? parts[3] : RollupKey.NoTeam);
            if (!byCell.TryGetValue(key, out var totals))
            {
                byCell[key] = totals = new RollupTotals();
            }

            totals.Set(parts[^1], (long)entry.Value);
        }

        foreach (var (key, totals) in byCell)
        {
            take(key, totals);
        }
    }
}
