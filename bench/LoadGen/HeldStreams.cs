namespace LoadGen;

/// <summary>
/// What 1,000 open slow streams cost one arm: its resident set and its live managed heap (both read after a full
/// collection) just before they opened and while they were open, in MB.
/// </summary>
internal sealed record HeldStreams(double RssBefore, double RssDuring, double LiveBefore, double LiveDuring, int Opened)
{
    /// <summary>
    /// Resident set added per 1,000 streams. When it fell instead (the collector gave back more of what earlier load had
    /// left than the streams took), this run cannot say what they cost in it: n/a.
    /// </summary>
    public double RssPerThousand => PerThousand(RssBefore, RssDuring);

    /// <summary>Live managed heap added per 1,000 streams: what they keep reachable, whatever the collector's timing.</summary>
    public double LivePerThousand => PerThousand(LiveBefore, LiveDuring);

    /// <summary>
    /// The figure for the goal: the larger of the two. The live heap is a lower bound (it leaves out the collector's own
    /// room and native memory); the resident set can read low when the streams reuse memory that earlier load left.
    /// </summary>
    public double Cost => (RssPerThousand, LivePerThousand) switch
    {
        (var r, var l) when double.IsNaN(r) => l,
        (var r, var l) when double.IsNaN(l) => r,
        var (r, l) => Math.Max(r, l),
    };

    private double PerThousand(double before, double during) =>
        Opened > 0 && during >= before ? (during - before) * 1000 / Opened : double.NaN;
}
