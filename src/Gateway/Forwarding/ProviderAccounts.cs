using System.Collections.Concurrent;
using Gateway.Configuration;

namespace Gateway.Forwarding;

/// <summary>
/// What each provider account has left, as the provider last said it (Segmind's <c>x-remaining-credits</c>, the seed's
/// only account signal): kept per provider, exposed as the gauge <c>gateway.provider.remaining_credits</c>, on the
/// dashboard, and warned about in the log (at most once a minute per provider) below
/// <c>Providers:&lt;name&gt;:LowCreditsWarning</c>, so an operator can top the account up before its 406 arrives.
/// </summary>
internal sealed partial class ProviderAccounts(TimeProvider clock, ILogger<ProviderAccounts> logger)
{
    private static readonly TimeSpan WarnEvery = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, Balance> _balances = new(StringComparer.Ordinal);

    /// <summary>The last balance each provider reported, and whether it is below the configured warning level.</summary>
    public IReadOnlyDictionary<string, Balance> Balances => _balances;

    public void Observe(ProviderRuntime provider, double? remaining)
    {
        if (remaining is not { } credits || double.IsNaN(credits))
        {
            return;
        }

        var now = clock.GetUtcNow();
        var low = provider.Options.LowCreditsWarning is { } threshold && credits < threshold;
        var previous = _balances.GetValueOrDefault(provider.Name);
        var warnedAt = previous?.WarnedAt;
        if (low && (warnedAt is null || now - warnedAt >= WarnEvery))
        {
            Log.LowCredits(logger, provider.Name, credits, provider.Options.LowCreditsWarning!.Value);
            warnedAt = now;
        }

        _balances[provider.Name] = new Balance(credits, low, now, warnedAt);
    }

    public sealed record Balance(double Remaining, bool Low, DateTimeOffset At, DateTimeOffset? WarnedAt);

    private static partial class Log
    {
        [LoggerMessage(160, LogLevel.Warning, "Provider {Provider} reports {Remaining} credits left, below the warning level of {Threshold}: top the account up before it refuses requests (Segmind answers 406)")]
        public static partial void LowCredits(ILogger logger, string provider, double remaining, double threshold);
    }
}
