using System.Text;
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

    // Names sent with every batch are kept as their UTF-8 bytes (RedisStore.ByteKey): the client copies them as they are.
    private readonly RedisKey _events = redis.ByteKey("{usage}:events");

    // KEYS: the batch's seen-marker keys (each once), the event stream, then each hash the batch touches once.
    // ARGV: seenTtl, streamMaxLen, the marker key count, then per marker key: how many records it marks, and per
    // record its bit in the key ('' for a key of its own) and its JSON; then the hash count and each hash's time to
    // live, then the gateway's sums of the batch: count, then per field: the key's own hash, the shared hash (their
    // indexes in KEYS), field, sum. Records of one key, model and provider in one hour (most of a batch) cost one HINCRBY
    // per counter, not one each; a field names its key, so the key's own hash and the shared one always get the same sum.
    // A record's seen marker is a bit of its bucket's bitmap (RecordIds: 100 records of one process, 13 bytes), or, for an
    // id of an earlier release, a key of its own as that release wrote it, so that both releases see the same marker.
    // A batch is applied whole or not at all: when a record of it was taken before (a replayed spill, a record a lost
    // replica's sweep wrote first), the script takes back the markers it set, writes nothing, and answers the taken
    // records' places in the call; the writer sends the rest again with their own sums. So a record crosses the wire as
    // its marker and its JSON only, not also as five hash names, its cell and nine counters for the script to sum if
    // need be: Redis makes a Lua string of every key and argument, and those 17 a record were a fifth of the script's time
    // (bench/scripts.sh).
    private static readonly RedisScript WriteScript = new("usage.write", """
        -- Arguments go to redis.call as the strings they came as: a Lua number there is printed with "%.17g" each time
        -- (LimitScripts.Helpers says what that costs), so the bits' values are strings too.
        local seenTtl, maxlen, nm = ARGV[1], ARGV[2], tonumber(ARGV[3])
        local taken, setKeys, setBits = {}, {}, {}
        local a, place = 4, 0
        for k = 1, nm do
          local key = KEYS[k]
          for _ = 1, tonumber(ARGV[a]) do
            place = place + 1
            local bit = ARGV[a + 1]
            local fresh
            if bit == '' then fresh = redis.call('SET', key, '1', 'NX', 'EX', seenTtl) else fresh = redis.call('SETBIT', key, bit, '1') == 0 end
            if fresh then setKeys[#setKeys + 1] = key; setBits[#setBits + 1] = bit else taken[#taken + 1] = place end
            a = a + 2
          end
          a = a + 1
        end
        if #taken > 0 then
          for i, key in ipairs(setKeys) do
            if setBits[i] == '' then
              redis.call('DEL', key)
            else
              -- The bitmap may be new: it gets its time here too, or an all-clear one would stay for good.
              redis.call('SETBIT', key, setBits[i], '0')
              redis.call('EXPIRE', key, seenTtl)
            end
          end
          return taken
        end
        local stream = KEYS[nm + 1]
        a = 4
        for k = 1, nm do
          local c = tonumber(ARGV[a])
          for i = 1, c do redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'record', ARGV[a + 2 * i]) end
          -- A bucket lives a marker's time after its last record (a key of its own got its time with its SET).
          if ARGV[a + 1] ~= '' then redis.call('EXPIRE', KEYS[k], seenTtl) end
          a = a + 1 + 2 * c
        end
        local h = a
        local f = h + tonumber(ARGV[h]) + 1
        for j = 0, tonumber(ARGV[f]) - 1 do
          local b = f + 1 + j * 4
          redis.call('HINCRBY', KEYS[tonumber(ARGV[b])], ARGV[b + 2], ARGV[b + 3])
          redis.call('HINCRBY', KEYS[tonumber(ARGV[b + 1])], ARGV[b + 2], ARGV[b + 3])
        end
        for j = 1, tonumber(ARGV[h]) do redis.call('EXPIRE', KEYS[nm + 1 + j], ARGV[h + j]) end
        return taken
        """);

    public async Task WriteAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        // Each round either applies what is left or names at least one record taken before, which then drops out.
        var left = batch;
        while (left.Count > 0)
        {
            var (keys, args, order) = WriteCall(left);
            var taken = (int[])(await redis.EvalAsync(WriteScript, keys, args).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken))!;
            if (taken.Length == 0)
            {
                return;
            }

            var skip = new HashSet<int>(taken.Select(place => order[place - 1]));
            left = [.. left.Where((_, i) => !skip.Contains(i))];
        }
    }

    /// <summary>
    /// The script's keys and arguments for <paramref name="batch"/>, every name made once per batch, and the records'
    /// order in the call (their index in <paramref name="batch"/>): the call lists them by marker key.
    /// </summary>
    private (RedisKey[] Keys, RedisValue[] Args, int[] Order) WriteCall(IReadOnlyList<UsageRecord> batch)
    {
        var markers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        // A bit's place goes as a number (the client writes its digits straight into its buffer); a key of its own as "".
        var bits = new RedisValue[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var id = batch[i].Id;
            var key = RecordIds.Bucket(id, out var bucket, out var bit) ? "{usage}:seen100:" + bucket : "{usage}:seen:" + id;
            bits[i] = bit < 0 ? RedisValue.EmptyString : bit;
            if (!markers.TryGetValue(key, out var marked))
            {
                markers[key] = marked = [];
            }

            marked.Add(i);
        }

        var keys = new List<RedisKey>(markers.Count + 8);
        var args = new List<RedisValue>((batch.Count * 2) + markers.Count + 24)
        {
            (long)TimeSpan.FromDays(7).TotalSeconds, settings.StreamMaxLength, markers.Count,
        };
        var order = new int[batch.Count];
        var placed = 0;
        foreach (var (key, marked) in markers)
        {
            keys.Add(redis.ByteKey(key));
            args.Add(marked.Count);
            foreach (var i in marked)
            {
                args.Add(bits[i]);
                // UTF-8 as Redis takes it: half the bytes of a string, and nothing to encode on the way out.
                args.Add(JsonSerializer.SerializeToUtf8Bytes(batch[i], UsageJson.Default.UsageRecord));
                order[placed++] = i;
            }
        }

        keys.Add(_events);
        var (dayTtl, hourTtl) = ((long)TimeSpan.FromDays(settings.RetentionDays + 1).TotalSeconds, (long)TimeSpan.FromDays(UsageQuery.HourlyDays + 1).TotalSeconds);
        var sums = new BatchSums(firstHash: keys.Count + 1);
        // The records of a batch mostly share their day, hour and key: each hash's name is made once per batch, not per record.
        var days = new Dictionary<(string Day, string? KeyId), (string Shared, string Own)>();
        var hours = new Dictionary<(string Hour, string? KeyId), (string Shared, string Own)>();
        // So do their cells (key, model, provider, team): each cell's name is made once per batch too.
        var cells = new Dictionary<(string Key, string Model, string Provider, string Team), string>();
        foreach (var r in batch)
        {
            var (dayHash, keyDayHash) = HashNames(days, "{usage}:day:", r.Day, r.KeyId);
            var (hourHash, keyHourHash) = HashNames(hours, "{usage}:hour:", r.Hour, r.KeyId);
            var (day, keyDay) = (sums.Hash(dayHash, dayTtl), sums.Hash(keyDayHash, dayTtl));
            var (hour, keyHour) = (sums.Hash(hourHash, hourTtl), sums.Hash(keyHourHash, hourTtl));
            var dims = CellName(cells, RollupKey.Of(r));
            sums.Add(keyDay, day, dims, r);
            sums.Add(keyHour, hour, dims, r);
        }

        sums.AppendTo(keys, args);
        return ([.. keys], [.. args], order);
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
    /// The batch's hashes, each once with its time to live, and its counters summed per hash field: a field names its
    /// cell (key, model, provider, team) and its counter, and the key's own hash gets the same sum as the shared one.
    /// Hashes are named by their Lua index in KEYS (from 1), after the markers and the stream. A record is summed into its
    /// cell of a pair of hashes with one lookup (not one per counter); a field's name is made once, when the sums are
    /// handed on, as UTF-8 bytes: the cell's, made once per cell of the batch, and the counter's, once per process.
    /// </summary>
    private sealed class BatchSums(int firstHash)
    {
        private static readonly byte[][] MetricNames = [.. RollupTotals.Metrics.Select(Encoding.UTF8.GetBytes)];

        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
        private readonly List<(string Name, long Ttl)> _hashes = [];
        private readonly Dictionary<(int Own, string Cell), RollupTotals> _cells = [];
        private readonly List<(int Own, int Shared, string Cell, RollupTotals Totals)> _order = [];

        public int Hash(string name, long ttl)
        {
            if (!_index.TryGetValue(name, out var lua))
            {
                _index[name] = lua = firstHash + _hashes.Count;
                _hashes.Add((name, ttl));
            }

            return lua;
        }

        public void Add(int own, int shared, string cell, UsageRecord record)
        {
            if (!_cells.TryGetValue((own, cell), out var totals))
            {
                _cells[(own, cell)] = totals = new RollupTotals();
                _order.Add((own, shared, cell, totals));
            }

            totals.Add(record);
        }

        /// <summary>The hashes to KEYS; to ARGV their count and times to live, then the field count and per field: own hash, shared hash, field, sum.</summary>
        public void AppendTo(List<RedisKey> keys, List<RedisValue> args)
        {
            args.Add(_hashes.Count);
            foreach (var (name, ttl) in _hashes)
            {
                keys.Add(Encoding.UTF8.GetBytes(name));
                args.Add(ttl);
            }

            var fieldCount = args.Count;
            args.Add(0);
            var fields = 0;
            var cellNames = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            foreach (var (own, shared, cell, totals) in _order)
            {
                if (!cellNames.TryGetValue(cell, out var cellName))
                {
                    cellNames[cell] = cellName = Encoding.UTF8.GetBytes(cell);
                }

                var sums = totals.Values();
                for (var c = 0; c < sums.Length; c++)
                {
                    // A counter the batch left at zero is not sent, as before (HINCRBY by 0 would only add a field holding 0).
                    if (sums[c] != 0)
                    {
                        args.Add(own);
                        args.Add(shared);
                        args.Add((byte[])[.. cellName, .. MetricNames[c]]);
                        args.Add(sums[c]);
                        fields++;
                    }
                }
            }

            args[fieldCount] = fields;
        }
    }

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
