using Gateway.Redis;
using System.Security.Cryptography;
using System.Text;
using Gateway.Configuration;
using Gateway.Forwarding;

namespace Gateway.AsyncTasks;

/// <summary>Registers the async-task bridge: Redis-backed across replicas when Redis is configured, in memory otherwise.</summary>
internal static partial class AsyncTaskServices
{
    public const int MinimumSecretBytes = 32;

    public static IServiceCollection AddAsyncTasks(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSharedOrLocal<ITaskResultBus, RedisTaskResultBus, InMemoryTaskResultBus>(configuration);

        services.AddSingleton(sp => new CallbackTokens(SigningSecret(configuration, sp.GetRequiredService<ILogger<CallbackTokens>>()),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IDeploymentInvoker, AsyncTaskInvoker>();
        services.AddSingleton<CallbackEndpoint>();
        return services;
    }

    /// <summary>
    /// The secret every replica signs callback URLs with. Without one configured, a random secret
    /// works for a single instance only: a callback landing on another replica would be refused.
    /// </summary>
    private static byte[] SigningSecret(IConfiguration configuration, ILogger logger)
    {
        var variable = configuration["Server:CallbackSigningKeyEnv"];
        var secret = string.IsNullOrWhiteSpace(variable) ? null : Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(secret))
        {
            var bytes = Encoding.UTF8.GetBytes(secret);
            // HMAC-SHA256 is only as strong as its key: anything shorter than its 32-byte block of output is guessable sooner.
            return bytes.Length >= MinimumSecretBytes
                ? bytes
                : throw new GatewayConfigurationException([
                    $"Server:CallbackSigningKeyEnv: the secret in {variable} is {bytes.Length} bytes; use at least {MinimumSecretBytes} (e.g. `openssl rand -hex 32`)."]);
        }

        var asyncProviderConfigured = configuration.GetSection("Providers").GetChildren()
            .Any(p => Translators.Providers.ProviderCatalog.Find(p["Kind"]) is Translators.Translation.IAsyncTaskProvider);
        if (asyncProviderConfigured)
        {
            Log.RandomSecret(logger, variable ?? "(Server:CallbackSigningKeyEnv not set)");
        }

        return RandomNumberGenerator.GetBytes(32);
    }

    private static partial class Log
    {
        [LoggerMessage(72, LogLevel.Warning,
            "No callback signing secret ({Variable}); using a random one. Callbacks then only work on this instance: set the same secret on every replica.")]
        public static partial void RandomSecret(ILogger logger, string variable);
    }
}
