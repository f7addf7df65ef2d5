using Gateway.RateLimiting;
using Gateway.Requests;
using Gateway.Configuration;

namespace Gateway.Caching;

/// <summary>
/// Admission of a request the cache may answer. The lookup (a Redis GET) and the admission (a Redis script) go out
/// together, so a hit and a miss each wait for one round trip, not two. The admission is made as for a miss; a hit then
/// settles it to no tokens and no money, and a hit refused only for tokens or money it will not spend is admitted again
/// as what it is, a request. With <c>CountHitsAsRequests: false</c> a hit takes nothing at all, so the lookup comes
/// first and only a miss is admitted.
/// </summary>
internal sealed class CacheAwareAdmission(RateLimiter limiter, ResponseCache cache)
{
    public async Task<Admission> AdmitAsync(ChatExchange exchange, CacheTicket ticket, ResponseCacheSettings settings)
    {
        if (!ticket.ToLookUp)
        {
            return await limiter.AdmitAsync(exchange);
        }

        if (!settings.CountHitsAsRequests)
        {
            return await cache.FindAsync(exchange, ticket, settings) ? Admission.Unlimited : await limiter.AdmitAsync(exchange);
        }

        var finding = cache.FindAsync(exchange, ticket, settings);
        var admission = await limiter.AdmitAsync(exchange);
        if (!await finding || admission.Admitted || admission.Error!.Type == "requests")
        {
            return admission;
        }

        return await limiter.AdmitAsync(exchange, cacheHit: true);
    }
}
