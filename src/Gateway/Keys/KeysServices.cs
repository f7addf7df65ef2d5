using Gateway.Redis;

namespace Gateway.Keys;

internal static class KeysServices
{
    /// <summary>
    /// Runtime keys: in Redis when it is configured (shared by the fleet), else in <c>RuntimeKeys:Directory</c> (default: beside
    /// the usage journal, <c>data/keys</c>), which survives restarts.
    /// </summary>
    public static IServiceCollection AddRuntimeKeys(this IServiceCollection services, IConfiguration configuration)
    {
        var journal = configuration["Metering:JournalDirectory"] ?? "data/usage";
        var directory = configuration["RuntimeKeys:Directory"] ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(journal)) ?? ".", "keys");
        services.AddSharedOrLocal<IKeyStore, RedisKeyStore>(configuration, _ => new FileKeyStore(directory));
        services.AddSingleton<RuntimeKeys>();
        services.AddSingleton<Auth.IKeyDirectory>(sp => sp.GetRequiredService<RuntimeKeys>());
        services.AddHostedService(sp => sp.GetRequiredService<RuntimeKeys>());
        services.AddSingleton<KeyAdminEndpoints>();
        services.AddSingleton<TeamAdminEndpoints>();
        return services;
    }
}
