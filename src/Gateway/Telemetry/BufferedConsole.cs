using System.Text;

namespace Gateway.Telemetry;

/// <summary>
/// Standard output through a buffer flushed a few times a second (and at exit), instead of one write
/// system call per log line: with an access line per request, per-line writes cost more CPU than the
/// rest of the request's telemetry together (bench/REPORT.md). A line reaches the console at most
/// <see cref="FlushInterval"/> late; standard error (start-up failures) stays unbuffered.
/// </summary>
internal static class BufferedConsole
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    private static readonly Lock Gate = new();
    private static TextWriter? s_writer;
    private static Timer? s_timer;

    /// <summary>Installs the buffer once per process, before the console logger captures <see cref="Console.Out"/>.</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (s_writer is not null)
            {
                return;
            }

            var stream = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 64 * 1024) { AutoFlush = false };
            s_writer = TextWriter.Synchronized(stream);
            Console.SetOut(s_writer);
            s_timer = new Timer(_ => Flush(), null, FlushInterval, FlushInterval);
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Flush();
        }
    }

    /// <summary>Writes whole lines in one locked step (the writer is synchronized).</summary>
    public static void Write(StringBuilder text)
    {
        var writer = s_writer ?? Console.Out;
        writer.Write(text);
    }

    public static void Flush()
    {
        try
        {
            s_writer?.Flush();
        }
        catch (IOException)
        {
            // Standard output went away (a closed pipe): nothing left to tell.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
