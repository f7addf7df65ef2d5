namespace Gateway.RateLimiting;

/// <summary>
/// The Lua that makes admission one atomic step on Redis's clock (README, "Rate limits and budgets").
/// Sliding windows are hashes of bucket index -> count (1/60 of the window each); in-flight
/// requests are a sorted set of request ids scored by lease expiry; a budget is a hash of
/// {period, spent}. Either every counter takes the request or none does.
/// </summary>
internal static class LimitScripts
{
    // Shared helpers: time in ms from Redis, and calendar arithmetic (H. Hinnant's civil algorithms)
    // for month budgets, since Redis's Lua has no date library.
    internal const string Prelude = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local function floor(x) return math.floor(x) end
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
        -- period id and the ms until the next period starts
        local function period(kind)
          local days = floor(now / 86400000)
          if kind == 'day' then return days, (days + 1) * 86400000 - now end
          local y, m = civil(days)
          local ny, nm = y, m + 1
          if nm > 12 then ny, nm = y + 1, 1 end
          return y * 12 + m, days_from_civil(ny, nm) * 86400000 - now
        end
        """;

    /// <summary>
    /// KEYS: n window hashes, m in-flight sets, [budget hash].
    /// ARGV: n, m, hasBudget, windowMs, bucketMs, member, leaseMs, (limit, cost) x n, limit x m, [budgetLimit, budgetCost, period].
    /// Returns {admitted, rejectedIndex (0-based, -1), retryMs, bucket, period, (used, resetMs) x n}.
    /// </summary>
    public const string Admit = Prelude + "\n" + """
        local n, m, hasBudget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local windowMs, bucketMs = tonumber(ARGV[4]), tonumber(ARGV[5])
        local member, leaseMs = ARGV[6], tonumber(ARGV[7])
        local nb = floor(windowMs / bucketMs)
        local current = floor(now / bucketMs)
        local oldest = current - nb + 1
        local used, newest, buckets = {}, {}, {}
        local rejected, retry = -1, 0

        for i = 1, n do
          local limit, cost = tonumber(ARGV[6 + 2 * i]), tonumber(ARGV[7 + 2 * i])
          local h = redis.call('HGETALL', KEYS[i])
          local sum, top, stale, list = 0, -1, {}, {}
          for j = 1, #h, 2 do
            local b, v = tonumber(h[j]), tonumber(h[j + 1])
            if b < oldest then stale[#stale + 1] = h[j]
            else
              sum = sum + v
              if b > top then top = b end
              list[#list + 1] = { b, v }
            end
          end
          if #stale > 0 then redis.call('HDEL', KEYS[i], unpack(stale)) end
          used[i], newest[i], buckets[i] = sum, top, list
          if rejected < 0 and cost > 0 and sum + cost > limit then
            rejected = i - 1
            -- Wait until enough of the oldest usage leaves the window.
            table.sort(list, function(a, b) return a[1] < b[1] end)
            retry = windowMs
            local freed = 0
            for _, e in ipairs(list) do
              freed = freed + e[2]
              if sum - freed + cost <= limit then retry = (e[1] + nb) * bucketMs - now; break end
            end
          end
        end

        local cbase = 7 + 2 * n
        if rejected < 0 then
          for j = 1, m do
            local key = KEYS[n + j]
            redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
            if redis.call('ZCARD', key) >= tonumber(ARGV[cbase + j]) then
              rejected = n + j - 1
              retry = 1000
              break
            end
          end
        end

        local periodId, untilNext = 0, 0
        local bbase = cbase + m
        if hasBudget == 1 then
          local bkey = KEYS[n + m + 1]
          local limit, cost = tonumber(ARGV[bbase + 1]), tonumber(ARGV[bbase + 2])
          periodId, untilNext = period(ARGV[bbase + 3])
          local stored = redis.call('HMGET', bkey, 'period', 'spent')
          local spent = 0
          if tonumber(stored[1]) == periodId then spent = tonumber(stored[2]) or 0 end
          if rejected < 0 and spent + cost > limit then
            rejected = n + m
            retry = untilNext
          elseif rejected < 0 then
            redis.call('HSET', bkey, 'period', periodId, 'spent', spent + cost)
            redis.call('PEXPIRE', bkey, untilNext + 86400000)
          end
        end

        local out = { 0, rejected, retry, current, periodId }
        if rejected < 0 then
          out[1] = 1
          for i = 1, n do
            local cost = tonumber(ARGV[7 + 2 * i])
            if cost > 0 then
              redis.call('HINCRBY', KEYS[i], current, cost)
              used[i] = used[i] + cost
              newest[i] = current
            end
            redis.call('PEXPIRE', KEYS[i], windowMs + bucketMs)
          end
          for j = 1, m do
            redis.call('ZADD', KEYS[n + j], now + leaseMs, member)
            redis.call('PEXPIRE', KEYS[n + j], leaseMs)
          end
        end
        for i = 1, n do
          out[#out + 1] = used[i]
          out[#out + 1] = newest[i] >= 0 and ((newest[i] + nb) * bucketMs - now) or 0
        end
        return out
        """;

    /// <summary>
    /// KEYS: n token-window hashes, m in-flight sets, [budget hash].
    /// ARGV: n, m, hasBudget, bucket, tokenDelta, member, period, costDelta.
    /// </summary>
    public const string Settle = """
        local n, m, hasBudget = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local bucket, delta, member = ARGV[4], tonumber(ARGV[5]), ARGV[6]
        if delta ~= 0 then
          for i = 1, n do
            if redis.call('HEXISTS', KEYS[i], bucket) == 1 then redis.call('HINCRBY', KEYS[i], bucket, delta) end
          end
        end
        for j = 1, m do redis.call('ZREM', KEYS[n + j], member) end
        if hasBudget == 1 then
          local bkey = KEYS[n + m + 1]
          if redis.call('HGET', bkey, 'period') == ARGV[7] then redis.call('HINCRBY', bkey, 'spent', tonumber(ARGV[8])) end
        end
        return 1
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
