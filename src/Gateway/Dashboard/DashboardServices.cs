namespace Gateway.Dashboard;

/// <summary>Registers the dashboard: its embedded files, its endpoints, and the listener on this replica's metrics.</summary>
internal static class DashboardServices
{
    public static IServiceCollection AddDashboard(this IServiceCollection services)
    {
        services.AddSingleton<ReplicaStats>();
        services.AddSingleton<DashboardAssets>();
        services.AddSingleton<DashboardEndpoints>();
        return services;
    }
}
