using Gateway.Redis;

namespace Gateway.Metering;

internal static class MeteringServices
{
    /// <summary>
    /// Usage goes to Redis (rollups + event stream) when Redis is configured, to the local journal
    /// otherwise; either way through the non-blocking pipeline with a local spill.
    /// </summary>
    public static IServiceCollection AddMetering(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = configuration.GetSection("Metering").Get<MeteringSettings>() ?? new MeteringSettings();
        services.AddSingleton(settings);
        services.AddSingleton(_ => new UsageJournal(settings.JournalDirectory));
        services.AddSharedOrLocal<IUsageStore, RedisUsageStore>(configuration, sp => new JournalUsageStore(sp.GetRequiredService<UsageJournal>(),
            settings, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<JournalUsageStore>>()));

        services.AddSingleton<UsagePipeline>();
        services.AddSingleton<IUsageSink>(sp => sp.GetRequiredService<UsagePipeline>());
        services.AddHostedService(sp => sp.GetRequiredService<UsagePipeline>());
        services.AddSingleton<UsageEndpoints>();
        services.AddSingleton<UsageReadGate>();
        return services;
    }
}
