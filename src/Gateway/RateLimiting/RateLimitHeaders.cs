using System.Globalization;
using System.Text;

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

    public static string Duration(TimeSpan value)
    {
        var ms = (long)Math.Ceiling(Math.Max(0, value.TotalMilliseconds));
        if (ms < 1000)
        {
            return ms.ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var text = new StringBuilder();
        var hours = ms / 3_600_000;
        var minutes = ms / 60_000 % 60;
        var seconds = ms % 60_000 / 1000.0;
        if (hours > 0)
        {
            text.Append(hours).Append('h');
        }

        if (hours > 0 || minutes > 0)
        {
            text.Append(minutes).Append('m');
        }

        text.Append(seconds.ToString("0.###", CultureInfo.InvariantCulture)).Append('s');
        return text.ToString();
    }
}
