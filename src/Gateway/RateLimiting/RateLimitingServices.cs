using Gateway.Redis;

namespace Gateway.RateLimiting;

internal static class RateLimitingServices
{
    /// <summary>Limits shared through Redis when it is configured; in this process otherwise.</summary>
    public static IServiceCollection AddGatewayLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSharedOrLocal<ILimitEngine, RedisLimitEngine, InMemoryLimitEngine>(configuration);

        services.AddSingleton<SettlementQueue>();
        services.AddHostedService(sp => sp.GetRequiredService<SettlementQueue>());
        services.AddSingleton<LeaseRenewer>();
        services.AddHostedService(sp => sp.GetRequiredService<LeaseRenewer>());
        services.AddSingleton<RateLimiter>();
        services.AddSingleton<LostReservations>();
        services.AddHostedService(sp => sp.GetRequiredService<LostReservations>());
        services.AddSingleton<ProviderPacer>();
        return services;
    }
}
