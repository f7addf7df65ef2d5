using Gateway.Redis;

namespace Gateway.Routing;

/// <summary>Registers routing: strategies, per-deployment health and circuits (shared through Redis when configured), retries.</summary>
internal static class RoutingServices
{
    public static IServiceCollection AddGatewayRouting(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<DeploymentHealthRegistry>();
        services.AddSingleton<RoutePlanner>();
        services.AddSingleton<RetryPipelines>();
        services.AddSingleton<DeploymentsEndpoint>();
        services.AddSharedOrLocal<ICircuitShare, RedisCircuitShare, LocalCircuitShare>(configuration);

        return services;
    }
}
