using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Redis;

/// <summary>
/// The one place that chooses, per service, between the implementation shared by the fleet through Redis (when
/// <c>Redis:Configuration</c> is set) and the one that lives in this process; a shared one with something to prepare
/// before the replica is ready is also registered as an <see cref="IWarmUp"/>.
/// </summary>
internal static class SharedOrLocal
{
    public static IServiceCollection AddSharedOrLocal<TService, TShared, TLocal>(this IServiceCollection services, IConfiguration configuration)
        where TService : class
        where TShared : class, TService
        where TLocal : class, TService =>
        services.AddSharedOrLocal<TService, TShared>(configuration, s => s.TryAddSingleton<TService, TLocal>());

    public static IServiceCollection AddSharedOrLocal<TService, TShared>(this IServiceCollection services, IConfiguration configuration,
        Func<IServiceProvider, TService> local)
        where TService : class
        where TShared : class, TService =>
        services.AddSharedOrLocal<TService, TShared>(configuration, s => s.TryAddSingleton(local));

    private static IServiceCollection AddSharedOrLocal<TService, TShared>(this IServiceCollection services, IConfiguration configuration,
        Action<IServiceCollection> addLocal)
        where TService : class
        where TShared : class, TService
    {
        if (!RedisConnection.IsConfigured(configuration))
        {
            addLocal(services);
            return services;
        }

        services.TryAddSingleton<TService, TShared>();
        if (typeof(IWarmUp).IsAssignableFrom(typeof(TShared)))
        {
            // Resolved through the service, so what warms up is what serves (a test may have replaced it).
            services.AddSingleton(sp => sp.GetRequiredService<TService>() as IWarmUp ?? NothingToWarm.Instance);
        }

        return services;
    }

    private sealed class NothingToWarm : IWarmUp
    {
        public static readonly NothingToWarm Instance = new();

        public Task WarmUpAsync() => Task.CompletedTask;
    }
}
