using System.Globalization;
using Gateway.Requests;

namespace Gateway.RateLimiting;

/// <summary>
/// The OpenAI rate-limit headers: <c>x-ratelimit-limit-requests</c>, <c>-remaining-requests</c>,
/// <c>-reset-requests</c> and the <c>-tokens</c> trio, resets written like Go durations
/// (<c>12ms</c>, <c>1s</c>, <c>1.5s</c>, <c>6m0s</c>).
/// </summary>
internal static class RateLimitHeaders
{
    public static void Apply(IHeaderDictionary headers, WindowState? requests, WindowState? tokens)
    {
        if (requests is { } r)
        {
            headers["x-ratelimit-limit-requests"] = r.Limit.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-requests"] = r.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-requests"] = Duration(r.Reset);
        }

        if (tokens is { } t)
        {
            headers["x-ratelimit-limit-tokens"] = t.Limit.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-tokens"] = t.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-tokens"] = Duration(t.Reset);
        }
    }

    /// <summary>
    /// A reset time as OpenAI writes it: "120ms", "59.5s", "1m0.25s", "2h0m5s". Written into a stack buffer from integer parts
    /// (it runs twice per answer): the seconds' fraction is milliseconds, so three decimals at most, trailing zeros dropped.
    /// </summary>
    public static string Duration(TimeSpan value)
    {
        var ms = (long)Math.Ceiling(Math.Max(0, value.TotalMilliseconds));
        Span<char> text = stackalloc char[48];
        var at = 0;
        if (ms < 1000)
        {
            FixedPointText.Append(text, ref at, ms);
            text[at++] = 'm';
            text[at++] = 's';
            return new string(text[..at]);
        }

        var hours = ms / 3_600_000;
        var minutes = ms / 60_000 % 60;
        if (hours > 0)
        {
            FixedPointText.Append(text, ref at, hours);
            text[at++] = 'h';
        }

        if (hours > 0 || minutes > 0)
        {
            FixedPointText.Append(text, ref at, minutes);
            text[at++] = 'm';
        }

        FixedPointText.Append(text, ref at, ms % 60_000 / 1000, ms % 1000, 3);
        text[at++] = 's';
        return new string(text[..at]);
    }
}
