using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Gateway.Telemetry;

/// <summary>
/// Writes the access log (<see cref="RequestTelemetry.AccessLogCategory"/>) with the console's own formatter
/// (simple or json, as <c>Logging:Console:FormatterName</c> says) straight into the buffered standard output,
/// instead of through the console logger's queue, whose hand-off to its writer thread per line cost more than
/// the rest of a request's telemetry (bench/REPORT.md). The console logger leaves that category to this one.
/// </summary>
[ProviderAlias("AccessLog")]
internal sealed class AccessLogProvider(IEnumerable<ConsoleFormatter> formatters, IOptionsMonitor<ConsoleLoggerOptions> console) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) =>
        categoryName == RequestTelemetry.AccessLogCategory ? new AccessLogger(categoryName, this) : NullLogger.Instance;

    public void Dispose() => BufferedConsole.Flush();

    // The formatter found for the configured name, looked up again only when the name changes (a reload), not per line.
    // One reference, swapped whole, so a thread never reads one name with another's formatter.
    private Chosen? _chosen;

    private ConsoleFormatter Formatter()
    {
        var name = console.CurrentValue.FormatterName ?? ConsoleFormatterNames.Simple;
        if (_chosen is { } chosen && chosen.Name == name)
        {
            return chosen.Formatter;
        }

        var formatter = formatters.FirstOrDefault(f => f.Name == name) ?? formatters.First(f => f.Name == ConsoleFormatterNames.Simple);
        _chosen = new Chosen(name, formatter);
        return formatter;
    }

    private sealed record Chosen(string Name, ConsoleFormatter Formatter);

    private sealed class AccessLogger(string category, AccessLogProvider provider) : ILogger
    {
        [ThreadStatic]
        private static StringWriter? t_line;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Formatted whole on this thread, then written in one piece, so concurrent lines never interleave.
            var line = t_line ??= new StringWriter(new StringBuilder(512));
            provider.Formatter().Write(new LogEntry<TState>(logLevel, category, eventId, state, exception, formatter), null, line);
            var text = line.GetStringBuilder();
            BufferedConsole.Write(text);
            text.Clear();
        }
    }
}
