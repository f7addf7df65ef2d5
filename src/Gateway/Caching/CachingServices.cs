using Gateway.Redis;


namespace Gateway.Caching;

/// <summary>Registers the response cache: answers on the shared <c>IDistributedCache</c>, flights led across replicas through Redis when it is configured.</summary>
internal static class CachingServices
{
    public static IServiceCollection AddResponseCache(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSharedOrLocal<IFlightLeads, RedisFlightLeads, LocalFlightLeads>(configuration);

        services.AddSingleton<ResponseCache>();
        services.AddSingleton<CacheAwareAdmission>();
        return services;
    }
}
