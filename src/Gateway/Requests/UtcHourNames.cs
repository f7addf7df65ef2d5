using System.Globalization;

namespace Gateway.Requests;

/// <summary>
/// The names of a timestamp's UTC day (<c>2026-11-30</c>) and hour (<c>2026-11-30T07</c>), under which usage is journaled
/// and rolled up. Every usage record asks for both, and nearly all fall in the hour of the one before, so the last
/// hour's names are kept: formatting them was ~1% of the gateway's instructions per request
/// (bench/instructions.sh, docs/performance.md, fourteenth round).
/// </summary>
internal static class UtcHourNames
{
    // One immutable pair, swapped whole: a reader sees an hour with its own names, whichever thread wrote it last.
    private static Named? _last;

    public static string Day(DateTimeOffset timestamp) => For(timestamp).Day;

    public static string Hour(DateTimeOffset timestamp) => For(timestamp).Hour;

    private static Named For(DateTimeOffset timestamp)
    {
        var utc = timestamp.UtcDateTime;
        var hour = utc.Ticks / TimeSpan.TicksPerHour;
        if (_last is { } last && last.HourNumber == hour)
        {
            return last;
        }

        var named = new Named(hour,
            utc.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            utc.ToString("yyyy-MM-dd'T'HH", CultureInfo.InvariantCulture));
        _last = named;
        return named;
    }

    private sealed record Named(long HourNumber, string Day, string Hour);
}
