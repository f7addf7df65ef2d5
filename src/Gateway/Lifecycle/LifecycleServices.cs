namespace Gateway.Lifecycle;

internal static class LifecycleServices
{
    public static IServiceCollection AddGatewayLifecycle(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection("Lifecycle").Get<LifecycleOptions>() ?? new LifecycleOptions();
        services.AddSingleton(options);
        services.AddSingleton<GatewayLifecycle>();
        services.AddHostedService(sp => sp.GetRequiredService<GatewayLifecycle>());
        services.AddSingleton<StartupChecks>();
        services.AddSingleton<JitWarmUp>();
        // The host must wait out the drain and the grace before it cuts anything, with a margin for the usage flush.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = options.DrainDelay + options.ShutdownGrace + TimeSpan.FromSeconds(10));
        return services;
    }
}
