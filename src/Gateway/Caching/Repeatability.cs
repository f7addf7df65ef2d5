using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Configuration;

namespace Gateway.Caching;

/// <summary>
/// Whether asking again would give the same answer, so that a stored one may stand in for it. A request that samples
/// (<c>temperature</c> above 0, or unset, without a <c>seed</c>; or <c>n</c> above 1) would get a different answer each
/// time. Unset means the provider's default, which the provider documents (shared/seeds) do not state: it is read
/// conservatively, as sampling. A request that offers <c>tools</c> may be answered with an action for the client to
/// take. Both bypass the cache unless the policy says to cache them.
/// </summary>
internal static class Repeatability
{
    /// <summary>Why the request bypasses the cache (the <c>x-gateway-cache-reason</c>), or null when it may be cached.</summary>
    public static string? WhyNot(ChatCompletionRequest request, CachePolicy policy)
    {
        if (!policy.CacheSampled)
        {
            if (request.N is > 1)
            {
                return "n_above_1";
            }

            if (request.Seed is null && request.Temperature is not 0)
            {
                return "sampled_without_seed";
            }
        }

        if (!policy.CacheTools && request.Tools is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0 &&
            !(request.ToolChoice is { ValueKind: JsonValueKind.String } choice && choice.ValueEquals("none")))
        {
            return "tools";
        }

        return null;
    }
}
