namespace Gateway.RateLimiting;

/// <summary>
/// One sliding window of <see cref="InMemoryLimitEngine"/>: the counts of its last <c>nb</c> buckets in a ring (bucket
/// <c>b</c> in slot <c>b mod nb</c>), their running total, the oldest bucket not yet swept out and the newest bucket
/// written: what <see cref="LimitScripts"/> keeps in Redis as the bucket fields, <c>t</c>, <c>o</c> and <c>n</c>. An
/// admission reads the total and sweeps only the buckets that left the window, instead of summing a sorted map of up to
/// sixty buckets. Not thread-safe: the engine holds its lock around every call.
/// </summary>
internal sealed class SlidingWindow(long bucketMs, long nb, long oldest)
{
    private readonly long[] _counts = new long[nb];

    // Whether a bucket has been written since it entered the ring: the script's "the bucket's field exists", which decides
    // whether a settlement may still move it.
    private readonly bool[] _written = new bool[nb];

    /// <summary>What the buckets still in the window hold.</summary>
    public long Total { get; private set; }

    /// <summary>The oldest bucket not yet swept out: buckets <c>Oldest .. Oldest + nb - 1</c> are in the ring.</summary>
    public long Oldest { get; private set; } = oldest;

    /// <summary>The newest bucket written that is still in the window, or -1.</summary>
    public long Newest { get; private set; } = -1;

    /// <summary>Whether this window was made for buckets of this length (a reload can change the window's length).</summary>
    public bool Fits(long bucketLengthMs, long buckets) => bucketLengthMs == bucketMs && buckets == nb;

    /// <summary>Sweeps out every bucket older than <paramref name="oldestInWindow"/>.</summary>
    public void SweepTo(long oldestInWindow)
    {
        if (oldestInWindow <= Oldest)
        {
            return;
        }

        if (oldestInWindow - Oldest >= nb)
        {
            // Everything in it is older than the window (the clock moved on): it starts over.
            Array.Clear(_counts);
            Array.Clear(_written);
            Total = 0;
        }
        else
        {
            for (var b = Oldest; b < oldestInWindow; b++)
            {
                var slot = Slot(b);
                Total -= _counts[slot];
                _counts[slot] = 0;
                _written[slot] = false;
            }
        }

        Oldest = oldestInWindow;
        if (Newest < oldestInWindow)
        {
            Newest = -1;
        }
    }

    /// <summary>Counts <paramref name="cost"/> in bucket <paramref name="current"/> (swept to its window first).</summary>
    public void Add(long current, long cost)
    {
        // Should the clock have stepped back past the window's start, the cost still counts, in the oldest bucket kept.
        var bucket = Math.Max(current, Oldest);
        var slot = Slot(bucket);
        _counts[slot] += cost;
        _written[slot] = true;
        Total += cost;
        Newest = Math.Max(Newest, bucket);
    }

    /// <summary>Moves a bucket by <paramref name="delta"/> if it is still in the window and was written; a bucket swept out is gone, and with it what it counted.</summary>
    public void Adjust(long bucket, long delta)
    {
        if (delta == 0 || bucket < Oldest || bucket >= Oldest + nb || !_written[Slot(bucket)])
        {
            return;
        }

        _counts[Slot(bucket)] += delta;
        Total += delta;
    }

    /// <summary>Milliseconds until enough of the oldest usage leaves the window for <paramref name="cost"/> to fit under <paramref name="limit"/>.</summary>
    public long RetryMs(long cost, long limit, long current, long now, long windowMs)
    {
        var freed = 0L;
        var last = Math.Min(current, Oldest + nb - 1);
        for (var b = Oldest; b <= last; b++)
        {
            freed += _counts[Slot(b)];
            if (Total - freed + cost <= limit)
            {
                return ((b + nb) * bucketMs) - now;
            }
        }

        return windowMs;
    }

    private int Slot(long bucket) => (int)(bucket % nb);
}
