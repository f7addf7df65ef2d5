using System.Globalization;
using Gateway.Errors;
using Microsoft.Extensions.Primitives;

namespace Gateway.Caching;

/// <summary>
/// What the client asked of the cache: <c>Cache-Control: no-store</c> (neither read nor write the cache),
/// <c>no-cache</c> (do not read it; the fresh answer replaces the stored one), and <c>x-gateway-cache-ttl: N</c>
/// (keep this answer at most N seconds, never longer than the configuration allows; 0 keeps nothing).
/// </summary>
internal readonly record struct CacheControl(bool NoStore, bool Refresh, TimeSpan? Ttl)
{
    public const string TtlHeader = "x-gateway-cache-ttl";

    public static CacheControl Read(IHeaderDictionary headers, out GatewayError? error)
    {
        error = null;
        bool noStore = false, refresh = false;
        foreach (var value in headers.CacheControl)
        {
            foreach (var directive in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                noStore |= directive.Equals("no-store", StringComparison.OrdinalIgnoreCase);
                refresh |= directive.Equals("no-cache", StringComparison.OrdinalIgnoreCase);
            }
        }

        TimeSpan? ttl = null;
        if (headers.TryGetValue(TtlHeader, out StringValues ttlValue))
        {
            if (ttlValue.Count == 1 && long.TryParse(ttlValue[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds <= 365 * 86400)
            {
                ttl = TimeSpan.FromSeconds(seconds);
            }
            else
            {
                error = GatewayError.InvalidCacheHeader($"The {TtlHeader} header must be one whole number of seconds from 0 to 31536000.");
            }
        }

        return new CacheControl(noStore, refresh, ttl);
    }
}
