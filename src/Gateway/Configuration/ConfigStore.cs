using Microsoft.Extensions.Primitives;

namespace Gateway.Configuration;

/// <summary>
/// Holds the current <see cref="GatewaySnapshot"/>. Start-up with an invalid file fails with one
/// message naming every bad entry; a file changed at run time is reloaded, and an invalid change
/// keeps the last good snapshot and logs why.
/// </summary>
internal sealed partial class ConfigStore : IDisposable
{
    public const string BootstrapKeyVariable = "GATEWAY_BOOTSTRAP_KEY";

    private readonly IConfiguration _configuration;
    private readonly GatewayConfigFile? _file;
    private readonly ILogger<ConfigStore> _logger;
    private readonly IDisposable _reloadRegistration;
    private volatile GatewaySnapshot _current;

    public ConfigStore(IConfiguration configuration, ILogger<ConfigStore> logger, GatewayConfigFile? file = null)
    {
        _configuration = configuration;
        _file = file;
        _logger = logger;
        _current = Build(out var errors, out var warnings)
            ?? throw new GatewayConfigurationException(errors);
        LogWarnings(warnings);
        _reloadRegistration = ChangeToken.OnChange(_configuration.GetReloadToken, Reload);
    }

    public GatewaySnapshot Current => _current;

    /// <summary>How many run-time changes were taken.</summary>
    public int AcceptedReloads => _acceptedReloads;

    /// <summary>How many run-time changes were refused, and why the last one was.</summary>
    public int RejectedReloads => _rejectedReloads;

    public string? LastRejection { get; private set; }

    private int _rejectedReloads;
    private int _acceptedReloads;

    /// <summary>Raised after a new snapshot is in place.</summary>
    public event Action<GatewaySnapshot>? Changed;

    public void Dispose() => _reloadRegistration.Dispose();

    private void Reload()
    {
        var snapshot = Build(out var errors, out var warnings);
        if (_file?.LastLoadError is { } parseError)
        {
            // The file did not parse; what was bound is empty, so report the parser's message instead.
            errors = [parseError];
            snapshot = null;
            _file.ClearLoadError();
        }

        if (snapshot is null)
        {
            LastRejection = string.Join("\n", errors);
            Interlocked.Increment(ref _rejectedReloads);
            Log.ReloadRejected(_logger, errors.Count, string.Join(Environment.NewLine + "  ", errors));
            return;
        }

        LogWarnings(warnings);
        _current = snapshot;
        Interlocked.Increment(ref _acceptedReloads);
        Log.Reloaded(_logger, snapshot.Models.Count, snapshot.Providers.Count, snapshot.KeysByHash.Count);
        Changed?.Invoke(snapshot);
    }

    private GatewaySnapshot? Build(out List<string> errors, out List<string> warnings)
    {
        var options = new GatewayOptions();
        try
        {
            _configuration.Bind(options);
            CachePolicyOptions.BindEmptyBlocks(_configuration, options);
        }
        catch (InvalidOperationException ex)
        {
            // The binder names the key whose value has the wrong type.
            errors = [ex.Message];
            warnings = [];
            return null;
        }

        return GatewayConfigCompiler.Compile(options, Environment.GetEnvironmentVariable,
            _configuration[BootstrapKeyVariable], out errors, out warnings);
    }

    private void LogWarnings(List<string> warnings)
    {
        foreach (var warning in warnings)
        {
            Log.ConfigWarning(_logger, warning);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Configuration change rejected ({Count} problems); keeping the last good configuration:\n  {Problems}")]
        public static partial void ReloadRejected(ILogger logger, int count, string problems);

        [LoggerMessage(2, LogLevel.Information, "Configuration reloaded: {Models} models, {Providers} providers, {Keys} keys")]
        public static partial void Reloaded(ILogger logger, int models, int providers, int keys);

        [LoggerMessage(3, LogLevel.Warning, "Configuration: {Warning}")]
        public static partial void ConfigWarning(ILogger logger, string warning);
    }
}

/// <summary>Thrown at start-up when the configuration is invalid; the message lists every problem.</summary>
internal sealed class GatewayConfigurationException(IReadOnlyList<string> problems)
    : Exception($"Invalid gateway configuration ({problems.Count} problems):\n  " + string.Join("\n  ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
