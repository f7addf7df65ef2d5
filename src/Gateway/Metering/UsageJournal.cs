using System.Text;
using System.Text.Json;

namespace Gateway.Metering;

/// <summary>
/// Append-only JSON-lines files of usage records: one file per UTC day (<c>usage-YYYY-MM-DD.jsonl</c>)
/// as the store without Redis, and <c>spill*.jsonl</c> holding records Redis could not take yet.
/// Every append reaches the operating system before it returns (a crash of the gateway loses
/// nothing); <see cref="Sync"/> forces it to the disk, which the writer does about once a second
/// rather than per batch, because fsync per request would dominate the cost of a request.
/// </summary>
internal sealed class UsageJournal : IDisposable
{
    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly Dictionary<string, FileStream> _open = new(StringComparer.Ordinal);

    public UsageJournal(string directory)
    {
        _directory = Path.GetFullPath(directory);
        try
        {
            Directory.CreateDirectory(_directory);
            // Probe now: a journal that cannot be written would lose usage later, quietly.
            var probe = Path.Combine(_directory, ".write-probe");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            throw new Configuration.GatewayConfigurationException([
                $"Metering:JournalDirectory: '{_directory}' cannot be written by this process (user id {Environment.GetEnvironmentVariable("APP_UID") ?? Environment.UserName}): " +
                $"{ex.Message} Mount a writable volume there, or point Metering:JournalDirectory (Metering__JournalDirectory) at a writable directory."]);
        }
    }

    public void AppendDaily(IEnumerable<UsageRecord> records)
    {
        foreach (var day in records.GroupBy(r => r.Day))
        {
            Append($"usage-{day.Key}.jsonl", day);
        }
    }

    public void AppendSpill(IEnumerable<UsageRecord> records) => Append("spill.jsonl", records);

    public IEnumerable<UsageRecord> ReadDaily() => Files("usage-*.jsonl").SelectMany(Read);

    /// <summary>Moves the spill aside for replay (new spills go to a fresh file meanwhile).</summary>
    public List<string> ClaimSpills()
    {
        lock (_gate)
        {
            if (_open.Remove("spill.jsonl", out var spill))
            {
                spill.Dispose();
            }

            var current = Path.Combine(_directory, "spill.jsonl");
            if (File.Exists(current) && new FileInfo(current).Length > 0)
            {
                File.Move(current, Path.Combine(_directory, $"spill-{DateTime.UtcNow.Ticks}.jsonl"));
            }
        }

        return Files("spill-*.jsonl").ToList();
    }

    public bool HasSpill() => Files("spill*.jsonl").Any(f => new FileInfo(f).Length > 0);

    public long SpillBytes() => Files("spill*.jsonl").Sum(f => new FileInfo(f).Length);

    public static IEnumerable<UsageRecord> Read(string path)
    {
        foreach (var line in File.ReadLines(path))
        {
            if (line.Length == 0)
            {
                continue;
            }

            UsageRecord? record;
            try
            {
                record = JsonSerializer.Deserialize(line, UsageJson.Default.UsageRecord);
            }
            catch (JsonException)
            {
                // A line cut by a crash mid-write: everything before it is intact.
                continue;
            }

            if (record is not null)
            {
                yield return record;
            }
        }
    }

    /// <summary>Deletes daily files older than the retention, so the journal cannot grow without bound.</summary>
    public void DeleteOlderThan(DateOnly oldestKept)
    {
        foreach (var file in Files("usage-*.jsonl"))
        {
            var name = Path.GetFileNameWithoutExtension(file)["usage-".Length..];
            if (DateOnly.TryParseExact(name, "yyyy-MM-dd", out var day) && day < oldestKept)
            {
                File.Delete(file);
            }
        }
    }

    private IEnumerable<string> Files(string pattern) => Directory.EnumerateFiles(_directory, pattern).Order(StringComparer.Ordinal);

    private void Append(string file, IEnumerable<UsageRecord> records)
    {
        var text = new StringBuilder();
        foreach (var r in records)
        {
            text.Append(JsonSerializer.Serialize(r, UsageJson.Default.UsageRecord)).Append('\n');
        }

        lock (_gate)
        {
            if (!_open.TryGetValue(file, out var stream))
            {
                // Yesterday's file is finished: close it before opening today's.
                foreach (var old in _open.Where(o => o.Key.StartsWith("usage-", StringComparison.Ordinal) && file.StartsWith("usage-", StringComparison.Ordinal)).ToList())
                {
                    old.Value.Dispose();
                    _open.Remove(old.Key);
                }

                _open[file] = stream = new FileStream(Path.Combine(_directory, file), FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
            }

            stream.Write(Encoding.UTF8.GetBytes(text.ToString()));
            stream.Flush(flushToDisk: false);
        }
    }

    /// <summary>Forces everything appended so far to the disk.</summary>
    public void Sync()
    {
        lock (_gate)
        {
            foreach (var stream in _open.Values)
            {
                stream.Flush(flushToDisk: true);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var stream in _open.Values)
            {
                stream.Flush(flushToDisk: true);
                stream.Dispose();
            }

            _open.Clear();
        }
    }
}
