using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Caching;

/// <summary>Registers the response cache: answers on the shared <c>IDistributedCache</c>, flights led across replicas through Redis when it is configured.</summary>
internal static class CachingServices
{
    public static IServiceCollection AddResponseCache(this IServiceCollection services, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration["Redis:Configuration"]))
        {
            services.TryAddSingleton<IFlightLeads, LocalFlightLeads>();
        }
        else
        {
            services.TryAddSingleton<IFlightLeads, RedisFlightLeads>();
        }

        services.AddSingleton<ResponseCache>();
        services.AddSingleton<CacheAwareAdmission>();
        return services;
    }
}
