using Microsoft.Extensions.Configuration.Json;

namespace Gateway.Configuration;

/// <summary>
/// Adds gateway.json (or the file <c>GATEWAY_CONFIG</c> names) to configuration with reload on
/// change, below environment variables and the command line so those override it.
/// </summary>
internal sealed class GatewayConfigFile
{
    public const string PathVariable = "GATEWAY_CONFIG";
    private volatile bool _loadedOnce;

    private GatewayConfigFile(string path) => FullPath = path;

    public string FullPath { get; }

    /// <summary>Why the last reload of the file failed to parse, if it did.</summary>
    public string? LastLoadError { get; private set; }

    public static GatewayConfigFile AddTo(WebApplicationBuilder builder, string[] args)
    {
        var configured = builder.Configuration[PathVariable];
        var path = Path.GetFullPath(string.IsNullOrWhiteSpace(configured) ? "gateway.json" : configured, Directory.GetCurrentDirectory());
        if (!File.Exists(path))
        {
            throw new GatewayConfigurationException([
                $"{path}: configuration file not found. Run from the repository root, or set {PathVariable} to the file's path."]);
        }

        var file = new GatewayConfigFile(path);
        var source = new JsonConfigurationSource
        {
            Path = System.IO.Path.GetFileName(path),
            // Watches the file's own directory only (PhysicalFileProvider's watcher takes the whole tree below it).
            FileProvider = new ConfigDirectoryFiles(System.IO.Path.GetDirectoryName(path)!),
            Optional = false,
            ReloadOnChange = true,
            ReloadDelay = 250,
            OnLoadException = file.OnLoadException,
        };
        builder.Configuration.Sources.Add(source);
        // Environment and command line were added before the file; add them again so they win.
        builder.Configuration.AddEnvironmentVariables();
        builder.Configuration.AddCommandLine(args);
        file._loadedOnce = true;
        return file;
    }

    public void ClearLoadError() => LastLoadError = null;

    private void OnLoadException(FileLoadExceptionContext context)
    {
        var message = $"{FullPath}: {context.Exception.InnerException?.Message ?? context.Exception.Message}";
        if (!_loadedOnce)
        {
            // At start-up a broken file is fatal, with the parser's own words.
            throw new GatewayConfigurationException([message]);
        }

        // At run time the last good configuration stays; ConfigStore reports this.
        LastLoadError = message;
        context.Ignore = true;
    }
}
