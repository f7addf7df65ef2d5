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
    // Then the gateway's own sums of the batch: count, then per field: the key's own hash (its index in KEYS), the shared
    // hash's index, field, sum. Records of one key, model and provider in one hour (most of a batch) cost one HINCRBY per
    // counter, not one each; a field names its key, so the key's own hash and the shared one always get the same sum.
    // When every record is new (a first write, not a retry) the sums are applied as they are and the script does no
    // per-record arithmetic (it was a third of the script's time); when some record was taken before, the script sums
    // the new ones itself.
    private static readonly RedisScript WriteScript = new("usage.write", """
        local n, seenTtl, maxlen, dayTtl, hourTtl, m = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
        local written, expiring, isNew = 0, {}, {}
        for i = 0, n - 1 do
          local a = 7 + m + i * (m + 2)
          local k = i * 6
          if redis.call('SET', KEYS[k + 1], '1', 'NX', 'EX', seenTtl) then
            isNew[i] = true
            expiring[KEYS[k + 2]] = dayTtl
            expiring[KEYS[k + 3]] = hourTtl
            expiring[KEYS[k + 4]] = dayTtl
            expiring[KEYS[k + 5]] = hourTtl
            redis.call('XADD', KEYS[k + 6], 'MAXLEN', '~', maxlen, '*', 'record', ARGV[a + m + 1])
            written = written + 1
          end
        end
        if written == n then
          local s = 7 + m + n * (m + 2)
          for j = 0, tonumber(ARGV[s]) - 1 do
            local b = s + 1 + j * 4
            redis.call('HINCRBY', KEYS[tonumber(ARGV[b])], ARGV[b + 2], ARGV[b + 3])
            redis.call('HINCRBY', KEYS[tonumber(ARGV[b + 1])], ARGV[b + 2], ARGV[b + 3])
          end
        elseif written > 0 then
          local sums, order = {}, {}
          local function add(own, shared, field, v)
            local id = own .. '\0' .. field
            local e = sums[id]
            if e then e[4] = e[4] + v else sums[id] = { own, shared, field, v }; order[#order + 1] = id end
          end
          for i = 0, n - 1 do
            if isNew[i] then
              local a = 7 + m + i * (m + 2)
              local k = i * 6
              for c = 1, m do
                local v = tonumber(ARGV[a + c])
                if v ~= 0 then
                  local field = ARGV[a] .. ARGV[6 + c]
                  add(KEYS[k + 4], KEYS[k + 2], field, v)
                  add(KEYS[k + 5], KEYS[k + 3], field, v)
                end
              end
            end
          end
          for _, id in ipairs(order) do
            local e = sums[id]
            redis.call('HINCRBY', e[1], e[3], e[4])
            redis.call('HINCRBY', e[2], e[3], e[4])
          end
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
        var sums = new BatchSums();
        // The records of a batch mostly share their day, hour and key: each hash's name is made once per batch, not per record.
        var days = new Dictionary<(string Day, string? KeyId), (string Shared, string Own)>();
        var hours = new Dictionary<(string Hour, string? KeyId), (string Shared, string Own)>();
        // So do their cells (key, model, provider, team): each cell's name is made once per batch too.
        var cells = new Dictionary<(string Key, string Model, string Provider, string Team), string>();
        foreach (var r in batch)
        {
            // Lua indexes KEYS from 1: this record's day, hour, key's day and key's hour hashes are the next 2nd..5th.
            var at = keys.Count;
            var (dayHash, keyDayHash) = HashNames(days, "{usage}:day:", r.Day, r.KeyId);
            var (hourHash, keyHourHash) = HashNames(hours, "{usage}:hour:", r.Hour, r.KeyId);
            keys.Add(redis.Key("{usage}:seen:", r.Id));
            keys.Add(dayHash);
            keys.Add(hourHash);
            keys.Add(keyDayHash);
            keys.Add(keyHourHash);
            keys.Add(stream);
            var (day, hour, keyDay, keyHour) = (sums.Hash(keys, at + 2), sums.Hash(keys, at + 3), sums.Hash(keys, at + 4), sums.Hash(keys, at + 5));
            var dims = CellName(cells, RollupKey.Of(r));
            args.Add(dims);
            var values = new RollupTotals().Values(r);
            for (var c = 0; c < values.Length; c++)
            {
                args.Add(values[c]);
                if (values[c] != 0)
                {
                    sums.Add(keyDay, day, dims, c, values[c]);
                    sums.Add(keyHour, hour, dims, c, values[c]);
                }
            }

            args.Add(JsonSerializer.Serialize(r, UsageJson.Default.UsageRecord));
        }

        sums.AppendTo(args);
        await redis.EvalAsync(WriteScript, [.. keys], [.. args]).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken);
    }

    /// <summary>A cell's name in the rollup hashes (its fields are this and a counter's name), made once per batch.</summary>
    private static string CellName(Dictionary<(string, string, string, string), string> made, RollupKey k)
    {
        if (!made.TryGetValue((k.Key, k.Model, k.Provider, k.Team), out var name))
        {
            // A record with a team names it in a fifth part; without one the cell keeps the four parts it always had.
            made[(k.Key, k.Model, k.Provider, k.Team)] = name = k.Team == RollupKey.NoTeam
                ? $"{k.Key}{Separator}{k.Model}{Separator}{k.Provider}{Separator}"
                : $"{k.Key}{Separator}{k.Model}{Separator}{k.Provider}{Separator}{k.Team}{Separator}";
        }

        return name;
    }

    /// <summary>
    /// The batch's counters summed per hash field, for the script to apply when every record is new: a field names its
    /// cell (key, model, provider, team) and its counter, and the key's own hash gets the same sum as the shared one.
    /// Hashes are named by the Lua index (from 1) of the first record that names them; a field's name is made once, when
    /// the sums are handed on, not once per record.
    /// </summary>
    private sealed class BatchSums
    {
        private readonly Dictionary<string, int> _first = new(StringComparer.Ordinal);
        private readonly Dictionary<(int Own, string Cell, int Counter), (int Shared, long Sum)> _sums = [];
        private readonly List<(int Own, string Cell, int Counter)> _order = [];

        public int Hash(List<RedisKey> keys, int lua)
        {
            var name = (string)keys[lua - 1]!;
            return _first.TryAdd(name, lua) ? lua : _first[name];
        }

        public void Add(int own, int shared, string cell, int counter, long value)
        {
            var id = (own, cell, counter);
            if (_sums.TryGetValue(id, out var e))
            {
                _sums[id] = (e.Shared, e.Sum + value);
            }
            else
            {
                _sums[id] = (shared, value);
                _order.Add(id);
            }
        }

        /// <summary>Count, then per field: own hash, shared hash, field, sum.</summary>
        public void AppendTo(List<RedisValue> args)
        {
            args.Add(_order.Count);
            var metrics = RollupTotals.Metrics;
            foreach (var id in _order)
            {
                var (shared, sum) = _sums[id];
                args.Add(id.Own);
                args.Add(shared);
                args.Add(id.Cell + metrics[id.Counter]);
                args.Add(sum);
            }
        }
    }

    /// <summary>The hash of one key's cells for one period (a day, or an hour); requests without a key share "-".</summary>
    /// <summary>The shared hash and the key's own hash of one day or hour, named once per batch.</summary>
    private (string Shared, string Own) HashNames(Dictionary<(string, string?), (string Shared, string Own)> made, string sharedPrefix, string period,
        string? keyId)
    {
        if (!made.TryGetValue((period, keyId), out var names))
        {
            made[(period, keyId)] = names = (redis.Key(sharedPrefix, period), redis.Key(KeyPeriod(period, keyId)));
        }

        return names;
    }

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
