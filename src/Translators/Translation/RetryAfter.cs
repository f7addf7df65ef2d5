using System.Globalization;

namespace Gateway.Translators.Translation;

/// <summary>Reads a provider's retry delay: <c>retry-after-ms</c>, then <c>retry-after</c> (seconds or HTTP-date, RFC 9110 §10.2.3).</summary>
public static class RetryAfter
{
    public static TimeSpan? Read(Func<string, string?> header, DateTimeOffset now)
    {
        if (double.TryParse(header("retry-after-ms"), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && ms >= 0)
        {
            return TimeSpan.FromMilliseconds(ms);
        }

        var value = header("retry-after");
        if (value is null)
        {
            return null;
        }

        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return FromInstant(value, now);
    }

    /// <summary>A delay until an absolute instant (HTTP-date, ISO 8601 or Unix seconds); never negative.</summary>
    public static TimeSpan? FromInstant(string? value, DateTimeOffset now)
    {
        if (value is null)
        {
            return null;
        }

        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var unix))
        {
            return Positive(DateTimeOffset.FromUnixTimeSeconds(unix) - now);
        }

        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? Positive(at - now)
            : null;
    }

    private static TimeSpan Positive(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;
}
