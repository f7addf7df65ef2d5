using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A logger provider for an in-process gateway (<c>builder.Logging.AddProvider</c>) that keeps every entry at warning level
/// or above as it is logged: a test reads what was logged the moment its request is answered, without waiting.
/// </summary>
public sealed class CapturedLogs : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    /// <summary>Every entry logged with an exception, or at error level or above (with the exception's text).</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs sink) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var line = formatter(state, exception);
            sink.Lines.Enqueue(line);
            if (exception is not null || logLevel >= LogLevel.Error)
            {
                sink.Failures.Enqueue(line + " " + exception);
            }
        }
    }
}
