namespace Gateway.RateLimiting;

/// <summary>
/// The Lua that makes admission one atomic step on Redis's clock (README, "Rate limits and budgets").
/// Sliding windows are hashes of bucket index -> count (1/60 of the window each) that also keep their running total
/// (<c>t</c>), the oldest bucket not yet swept out (<c>o</c>) and the newest bucket written (<c>n</c>), so an admission
/// reads three fields and sweeps the one or two buckets that left the window, instead of reading and summing every
/// bucket (which was most of redis-server's time per request); in-flight requests are a sorted set of request ids
/// scored by lease expiry; a budget is a hash of {period, spent}. Either every counter takes the request or none does.
/// </summary>
internal static class LimitScripts
{
    /// <summary>
    /// Number conversions are, after the commands themselves, most of what the scripts cost in redis-server
    /// (bench/script-instructions.sh counts it). A number handed to redis.call is printed with "%.17g", and tostring()
    /// or .. print one with "%.14g", both through glibc's floating-point printing (~3,400 and ~5,000 instructions);
    /// "%d" costs about half. Every value here is a whole number below 2^53, so the digits are the same either way.
    /// tonumber(s) parses s twice (Lua 5.1 checks, then converts) in a C call; s + 0 parses it once, inline, so the
    /// arguments, which are always numbers, are read that way; a reply that may be missing (false) is read as (v or default) + 0.
    /// </summary>
    private const string Helpers = """
        local function int(x) return string.format('%d', x) end
        -- The reservation's field names for token window i and budget j, without printing i or j.
        local function window_field(i) if i == 1 then return 'w1' elseif i == 2 then return 'w2' end return 'w' .. i end
        local function budget_fields(j) if j == 1 then return 'period', 'cost' end return 'period' .. j, 'cost' .. j end
        """;

    // Time in ms from Redis, and calendar arithmetic (H. Hinnant's civil algorithms)
    // for month budgets, since Redis's Lua has no date library.
    internal const string Prelude = Helpers + "\n" + """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local floor = math.floor
        -- The numbers every admission of one call prints alike ("now" does not move, and the plans of one scope agree):
        -- printed once per call.
        local printed = {}
        local function text(x)
          local s = printed[x]
          if not s then s = int(x); printed[x] = s end
          return s
        end
        local function civil(days)
          local z = days + 719468
          local era = floor(z / 146097)
          local doe = z - era * 146097
          local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
          local y = yoe + era * 400
          local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
          local mp = floor((5 * doy + 2) / 153)
          local m = mp < 10 and mp + 3 or mp - 9
          if m <= 2 then y = y + 1 end
          return y, m
        end
        local function days_from_civil(y, m)
          if m <= 2 then y = y - 1 end
          local era = floor(y / 400)
          local yoe = y - era * 400
          local mp = m > 2 and m - 3 or m + 9
          local doy = floor((153 * mp + 2) / 5)
          local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
          return era * 146097 + doe - 719468
        end
        -- period id and the ms until the next period starts; worked out once per kind per call ("now" does not move)
        local known_periods = {}
        local function period(kind)
          local p = known_periods[kind]
          if p then return p[1], p[2] end
          local days = floor(now / 86400000)
          local id, left
          if kind == 'day' then
            id, left = days, (days + 1) * 86400000 - now
          else
            local y, m = civil(days)
            local ny, nm = y, m + 1
            if nm > 12 then ny, nm = y + 1, 1 end
            id, left = y * 12 + m, days_from_civil(ny, nm) * 86400000 - now
          end
          known_periods[kind] = { id, left }
          return id, left
        end
        """;

    /// <summary>
    /// KEYS: n window hashes, m in-flight sets, b budget hashes, reservation hash, [open set] (all in one hash slot).
    /// ARGV: n, m, b, windowMs, bucketMs, member, leaseMs, deadlineMs (Redis clock, 0 = none),
    /// (limit, cost, isTokens) x n, limit x m, (budgetLimit, budgetCost, period) x b,
    /// [what to record should the replica die, packed (<see cref="LostRecord"/>)] with the open set.
    /// A key in a team has two budgets (its own and the team's): both must admit, and both are charged, or neither.
    /// Returns {admitted, rejectedIndex (0-based; -1 none, -2 past its deadline, -3 cancelled), retryMs, bucket, period, now,
    /// (used, resetMs) x n}. An admission is recorded in the reservation hash, so that it is settled or cancelled exactly once;
    /// with the open set, it is also listed there by lease end, with what to record should its replica die.
    /// </summary>
    public const string Admit = Prelude + "\n" + AdmitBody;

    /// <summary>The admission itself (<see cref="Admit"/> without the prelude), also run as a function by <see cref="Batch"/>.</summary>
    private const string AdmitBody = """
        local n, m, nbud = ARGV[1] + 0, ARGV[2] + 0, ARGV[3] + 0
        local windowMs, bucketMs = ARGV[4] + 0, ARGV[5] + 0
        local member, leaseMs, deadline = ARGV[6], ARGV[7] + 0, ARGV[8] + 0
        local res = KEYS[n + m + nbud + 1]
        -- The gateway gave up on this admission (it answered the client already) or cancelled it: take nothing.
        if deadline > 0 and now > deadline then return { 0, -2, 0, 0, 0, now } end
        if redis.call('EXISTS', res) == 1 then return { 0, -3, 0, 0, 0, now } end
        local nb = floor(windowMs / bucketMs)
        local current = floor(now / bucketMs)
        local oldest = current - nb + 1
        -- Numbers handed to redis.call go as strings made once (the prelude says why).
        local scurrent, soldest = text(current), text(oldest)
        local used, newest, costs = {}, {}, {}
        local rejected, retry = -1, 0

        local swept, bucketNow = {}, {}
        for i = 1, n do
          local limit, cost = ARGV[6 + 3 * i] + 0, ARGV[7 + 3 * i] + 0
          costs[i] = cost
          local key = KEYS[i]
          -- One read for the state and the current bucket (false when this is its first write).
          local st = redis.call('HMGET', key, 't', 'o', 'n', scurrent)
          -- A missing field reads as false: (v or default) + 0 parses a present one once (the helpers say why).
          local sum, o, top = (st[1] or 0) + 0, (st[2] or oldest) + 0, (st[3] or -1) + 0
          bucketNow[i] = st[4]
          if o < oldest then
            if oldest - o > nb then
              -- Everything in it is older than the window (the clock moved on): it starts over, with nothing to keep.
              redis.call('DEL', key)
              sum, top, bucketNow[i] = 0, -1, false
            else
              -- Buckets are consecutive indices: the ones that left the window since the last look are o .. oldest - 1.
              local fields = {}
              for b = o, oldest - 1 do fields[#fields + 1] = b end
              local values = redis.call('HMGET', key, unpack(fields))
              local gone = {}
              for j = 1, #fields do
                local v = tonumber(values[j])
                if v then sum = sum - v; gone[#gone + 1] = fields[j] end
              end
              if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
              swept[i] = true
            end
          end
          if top < oldest then top = -1 end
          used[i], newest[i] = sum, top
          if rejected < 0 and cost > 0 and sum + cost > limit then
            rejected = i - 1
            -- Wait until enough of the oldest usage leaves the window (the refusal path reads the buckets themselves).
            local h = redis.call('HGETALL', key)
            local list = {}
            for j = 1, #h, 2 do
              local b = tonumber(h[j])
              if b and b >= oldest then list[#list + 1] = { b, tonumber(h[j + 1]) } end
            end
            table.sort(list, function(a, b) return a[1] < b[1] end)
            retry = windowMs
            local freed = 0
            for _, e in ipairs(list) do
              freed = freed + e[2]
              if sum - freed + cost <= limit then retry = (e[1] + nb) * bucketMs - now; break end
            end
          end
        end

        local cbase = 8 + 3 * n
        if rejected < 0 then
          local live = '(' .. text(now)
          for j = 1, m do
            local key = KEYS[n + j]
            -- Leases that ended (their replica died) do not count; about one admission in 16 (by the clock) also removes them.
            if now % 16 == 0 then redis.call('ZREMRANGEBYSCORE', key, '-inf', now) end
            if redis.call('ZCOUNT', key, live, '+inf') >= ARGV[cbase + j] + 0 then
              rejected = n + j - 1
              retry = 1000
              break
            end
          end
        end

        -- Every budget is checked before any is charged.
        local bbase = cbase + m
        local periods, untils, costArgs, current_period = {}, {}, {}, {}
        for j = 1, nbud do
          local a = bbase + 3 * (j - 1)
          local limit, cost = ARGV[a + 1] + 0, ARGV[a + 2] + 0
          costArgs[j] = ARGV[a + 2]
          periods[j], untils[j] = period(ARGV[a + 3])
          local stored = redis.call('HMGET', KEYS[n + m + j], 'period', 'spent')
          local spent = 0
          current_period[j] = (stored[1] or -1) + 0 == periods[j]
          if current_period[j] then spent = (stored[2] or 0) + 0 end
          if rejected < 0 and spent + cost > limit then
            rejected = n + m + j - 1
            retry = untils[j]
          end
        end
        if rejected < 0 then
          for j = 1, nbud do
            local bkey = KEYS[n + m + j]
            if current_period[j] then
              redis.call('HINCRBY', bkey, 'spent', costArgs[j])
            else
              -- A new period: the hash starts over, and lives a day past the period's end.
              redis.call('HSET', bkey, 'period', text(periods[j]), 'spent', costArgs[j])
              redis.call('PEXPIRE', bkey, text(untils[j] + 86400000))
            end
          end
        end

        local out = { 0, rejected, retry, current, periods[1] or 0, now }
        if rejected < 0 then
          out[1] = 1
          for i = 1, n do
            local cost = costs[i]
            if cost > 0 then
              used[i] = used[i] + cost
              newest[i] = current
              -- A bucket's first write holds just this cost, already a string.
              local bucket = bucketNow[i] and int(bucketNow[i] + cost) or ARGV[7 + 3 * i]
              redis.call('HSET', KEYS[i], scurrent, bucket, 't', int(used[i]), 'o', soldest, 'n', scurrent)
              -- A bucket's first write sets the hash's expiry: nothing in it counts longer than a window from then.
              if not bucketNow[i] then redis.call('PEXPIRE', KEYS[i], text(windowMs + bucketMs)) end
            elseif swept[i] then
              redis.call('HSET', KEYS[i], 't', int(used[i]), 'o', soldest)
            end
          end
          local leaseEnd = text(now + leaseMs)
          for j = 1, m do
            redis.call('ZADD', KEYS[n + j], leaseEnd, member)
            redis.call('PEXPIRE', KEYS[n + j], ARGV[7])
          end
          local fields = { 'state', 'booked', 'bucket', scurrent }
          -- Each budget's period and charge (the first as 'period'/'cost', the second as 'period2'/'cost2').
          for j = 1, nbud do
            local period_name, cost_name = budget_fields(j)
            fields[#fields + 1] = period_name; fields[#fields + 1] = text(periods[j])
            fields[#fields + 1] = cost_name; fields[#fields + 1] = costArgs[j]
          end
          -- What each token window reserved, for settlement to move to the real figure.
          for i = 1, n do
            if ARGV[8 + 3 * i] == '1' then fields[#fields + 1] = window_field(i); fields[#fields + 1] = ARGV[7 + 3 * i] end
          end
          local resTtl = leaseMs + windowMs
          local open = KEYS[n + m + nbud + 2]
          if open then
            fields[#fields + 1] = 'lost'; fields[#fields + 1] = ARGV[bbase + 3 * nbud + 1]
            fields[#fields + 1] = 'at'; fields[#fields + 1] = text(now)
            redis.call('ZADD', open, leaseEnd, member)
            redis.call('PEXPIRE', open, text(leaseMs + 86400000))
            -- Kept until a survivor has had time to find it, should this replica die.
            resTtl = resTtl + 3600000
          end
          redis.call('HSET', res, unpack(fields))
          redis.call('PEXPIRE', res, text(resTtl))
        end
        if rejected >= 0 then
          -- Refused: nothing was taken, but what was swept stays swept.
          for i = 1, n do
            if swept[i] and redis.call('EXISTS', KEYS[i]) == 1 then redis.call('HSET', KEYS[i], 't', int(used[i]), 'o', soldest) end
          end
        end
        for i = 1, n do
          out[#out + 1] = used[i]
          out[#out + 1] = newest[i] >= 0 and ((newest[i] + nb) * bucketMs - now) or 0
        end
        return out
        """;

    /// <summary>
    /// Settles (or cancels) one reservation, exactly once: a booked reservation's token buckets and budget move to
    /// what was really used and its leases end; an unknown one (never admitted, already settled) is left alone, and
    /// when cancelling, marked so that an admission arriving late takes nothing.
    /// KEYS: n window hashes (in admission order), m in-flight sets, b budget hashes, reservation hash, [open set].
    /// ARGV: n, m, b, member, actualTokens, actualCost, cancel (1/0), tombstoneMs.
    /// Returns 1 settled, 0 nothing to settle.
    /// </summary>
    public const string Settle = Helpers + "\n" + SettleBody;

    /// <summary>The settlement itself (<see cref="Settle"/> without the helpers), also run as a function by <see cref="Batch"/>.</summary>
    private const string SettleBody = """
        local n, m, nbud = ARGV[1] + 0, ARGV[2] + 0, ARGV[3] + 0
        local member, tokens, cost = ARGV[4], ARGV[5] + 0, ARGV[6] + 0
        local res = KEYS[n + m + nbud + 1]
        -- What settling needs of the reservation, in one read: its state and bucket, what each token window reserved,
        -- each budget's period and charge (not the whole hash: its recovery record is for survivors only).
        local names = { 'state', 'bucket' }
        for i = 1, n do names[#names + 1] = window_field(i) end
        for j = 1, nbud do
          local period_name, cost_name = budget_fields(j)
          names[#names + 1] = period_name; names[#names + 1] = cost_name
        end
        local r = redis.call('HMGET', res, unpack(names))
        if r[1] ~= 'booked' then
          -- Every write of a reservation sets its state: none means there is no reservation.
          if ARGV[7] == '1' and not r[1] then
            redis.call('HSET', res, 'state', 'cancelled')
            redis.call('PEXPIRE', res, ARGV[8])
          end
          return 0
        end
        local bucket = r[2]
        for i = 1, n do
          -- Only token windows were recorded: a request counts once, whatever it used.
          local reserved = r[2 + i]
          if reserved then
            local delta = tokens - reserved
            if delta ~= 0 then
              -- A bucket already swept out of the window is gone, and with it what it counted.
              local v = redis.call('HMGET', KEYS[i], bucket, 't')
              if v[1] then redis.call('HSET', KEYS[i], bucket, int(v[1] + delta), 't', int((v[2] or 0) + delta)) end
            end
          end
        end
        for j = 1, m do redis.call('ZREM', KEYS[n + j], member) end
        if KEYS[n + m + nbud + 2] then redis.call('ZREM', KEYS[n + m + nbud + 2], member) end
        for j = 1, nbud do
          local bkey = KEYS[n + m + j]
          local booked, charged = r[1 + n + 2 * j], r[2 + n + 2 * j]
          if booked and charged and redis.call('HGET', bkey, 'period') == booked then
            redis.call('HINCRBY', bkey, 'spent', int(cost - charged))
          end
        end
        redis.call('DEL', res)
        return 1
        """;

    /// <summary>
    /// Group commit (<see cref="ScopeBatches"/>): any number of settlements and admissions of one scope, applied one after
    /// another in the order given, exactly as the same <see cref="Settle"/> and <see cref="Admit"/> calls made one by one
    /// (they run here as functions, on one reading of Redis's clock).
    /// KEYS: every operation's own keys, one operation after another.
    /// ARGV: count, then per operation: kind ('a' admit, 's' settle), its number of keys, its number of arguments, its arguments.
    /// Returns one answer per operation, in order: what <see cref="Admit"/> or <see cref="Settle"/> returns.
    /// </summary>
    public const string Batch = Prelude + "\nlocal function admit(KEYS, ARGV)\n" + AdmitBody + "\nend\nlocal function settle(KEYS, ARGV)\n" + SettleBody
        + "\nend\n" + """
        local results, k, a = {}, 0, 1
        for i = 1, ARGV[1] + 0 do
          local kind, nk, na = ARGV[a + 1], ARGV[a + 2] + 0, ARGV[a + 3] + 0
          -- Copied in C (unpack into a table of known size), not element by element (bench/scripts.sh: with the period
          -- worked out once per call, 6% of the scripts' time).
          local keys, args = { unpack(KEYS, k + 1, k + nk) }, { unpack(ARGV, a + 4, a + 3 + na) }
          k, a = k + nk, a + 3 + na
          if kind == 'a' then results[i] = admit(keys, args) else results[i] = settle(keys, args) end
        end
        return results
        """;

    /// <summary>
    /// Reads what a plan's counters hold, taking nothing. KEYS: n window hashes, m in-flight sets, b budget hashes.
    /// ARGV: n, m, b, windowMs, bucketMs, period kind x b. Returns {used x n, running x m, spent x b}.
    /// </summary>
    public const string Peek = Prelude + "\n" + """
        local n, m, nbud = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local windowMs, bucketMs = tonumber(ARGV[4]), tonumber(ARGV[5])
        local oldest = floor(now / bucketMs) - floor(windowMs / bucketMs) + 1
        local out = {}
        for i = 1, n do
          local h, sum = redis.call('HGETALL', KEYS[i]), 0
          for j = 1, #h, 2 do
            local b = tonumber(h[j])
            if b and b >= oldest then sum = sum + tonumber(h[j + 1]) end
          end
          out[#out + 1] = sum
        end
        for j = 1, m do out[#out + 1] = redis.call('ZCOUNT', KEYS[n + j], '(' .. now, '+inf') end
        for j = 1, nbud do
          local spent = 0
          local stored = redis.call('HMGET', KEYS[n + m + j], 'period', 'spent')
          if tonumber(stored[1]) == period(ARGV[5 + j]) then spent = tonumber(stored[2]) or 0 end
          out[#out + 1] = spent
        end
        return out
        """;

    /// <summary>
    /// Extends the leases of requests still running (long streams), and their reservation record.
    /// KEYS: m in-flight sets, reservation hash, [open set]. ARGV: m, member, leaseMs, recordMs.
    /// </summary>
    public const string Renew = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local m, member, leaseMs = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
        if redis.call('HGET', KEYS[m + 1], 'state') ~= 'booked' then return 0 end
        for j = 1, m do
          redis.call('ZADD', KEYS[j], 'XX', now + leaseMs, member)
          if redis.call('PTTL', KEYS[j]) < leaseMs then redis.call('PEXPIRE', KEYS[j], leaseMs) end
        end
        redis.call('PEXPIRE', KEYS[m + 1], tonumber(ARGV[4]))
        if KEYS[m + 2] then redis.call('ZADD', KEYS[m + 2], 'XX', now + leaseMs, member) end
        return 1
        """;

    /// <summary>
    /// The reservations of one key whose lease ended more than a grace ago: KEYS: open set. ARGV: graceMs, max.
    /// Returns their ids (members).
    /// </summary>
    public const string LostList = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'LIMIT', 0, tonumber(ARGV[2]))
        """;

    /// <summary>
    /// Claims one lost reservation, exactly once across replicas: KEYS: open set, reservation hash. ARGV: member.
    /// Returns the reservation's fields (flat) when this call claimed a booked one, else an empty list. The counters stay
    /// at the reserved figures (that is the settlement), and the reservation is gone, so its replica cannot settle it late.
    /// </summary>
    public const string LostClaim = """
        if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return {} end
        local raw = redis.call('HGETALL', KEYS[2])
        redis.call('DEL', KEYS[2])
        local r = {}
        for i = 1, #raw, 2 do r[raw[i]] = raw[i + 1] end
        if r.state ~= 'booked' then return {} end
        return raw
        """;

    /// <summary>KEYS: one window hash. ARGV: limit, windowMs, bucketMs. Returns {admitted, retryMs}.</summary>
    public const string Acquire = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local limit, windowMs, bucketMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local nb = math.floor(windowMs / bucketMs)
        local current = math.floor(now / bucketMs)
        local oldest = current - nb + 1
        local h = redis.call('HGETALL', KEYS[1])
        local sum, list, stale = 0, {}, {}
        for j = 1, #h, 2 do
          local b, v = tonumber(h[j]), tonumber(h[j + 1])
          if b < oldest then stale[#stale + 1] = h[j] else sum = sum + v; list[#list + 1] = { b, v } end
        end
        if #stale > 0 then redis.call('HDEL', KEYS[1], unpack(stale)) end
        if sum + 1 <= limit then
          redis.call('HINCRBY', KEYS[1], current, 1)
          redis.call('PEXPIRE', KEYS[1], windowMs + bucketMs)
          return { 1, 0 }
        end
        table.sort(list, function(a, b) return a[1] < b[1] end)
        local freed = 0
        for _, e in ipairs(list) do
          freed = freed + e[2]
          if sum - freed + 1 <= limit then return { 0, (e[1] + nb) * bucketMs - now } end
        end
        return { 0, windowMs }
        """;
}
