namespace Gateway.Caching;

/// <summary>
/// Every answer of a chat request says what the cache did: <c>x-gateway-cache: hit|miss|bypass|refresh</c>, and for a
/// bypass why (<c>x-gateway-cache-reason</c>). Set as the response starts, so error answers carry them too and a miss
/// that was then answered by an identical request in flight says <c>hit</c>.
/// </summary>
internal static class CacheHeaders
{
    public const string Status = "x-gateway-cache";
    public const string Reason = "x-gateway-cache-reason";

    public static void Apply(HttpResponse response, CacheTicket ticket) =>
        response.OnStarting(static state =>
        {
            var (response, ticket) = ((HttpResponse, CacheTicket))state;
            response.Headers[Status] = ticket.HeaderValue;
            if (ticket.Status == CacheStatus.Bypass && ticket.BypassReason is { } reason)
            {
                response.Headers[Reason] = reason;
            }

            return Task.CompletedTask;
        }, (response, ticket));
}
