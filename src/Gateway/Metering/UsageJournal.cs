using System.Text;
using System.Text.Json;
using Gateway.Buffers;
using Gateway.Requests;

namespace Gateway.Metering;

/// <summary>
/// Append-only JSON-lines files of usage records: per UTC day an open file (<c>usage-YYYY-MM-DD.jsonl</c>) and the
/// sealed, compressed segments before it (<see cref="JournalFiles"/>) as the store without Redis, and
/// <c>spill*.jsonl</c> holding records Redis could not take yet.
/// Every append reaches the operating system before it returns (a crash of the gateway loses
/// nothing); <see cref="Sync"/> forces it to the disk, which the writer does about once a second
/// rather than per batch, because fsync per request would dominate the cost of a request.
/// </summary>
internal sealed class UsageJournal : IDisposable
{
    private readonly Lock _gate = new();
    private readonly string _directory;
    private readonly Dictionary<string, FileStream> _open = new(StringComparer.Ordinal);

    public string Directory => _directory;

    public UsageJournal(string directory)
    {
        _directory = Path.GetFullPath(directory);
        try
        {
            System.IO.Directory.CreateDirectory(_directory);
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
            Append(JournalFiles.OpenFile(day.Key), day);
        }
    }

    public void AppendSpill(IEnumerable<UsageRecord> records) => Append("spill.jsonl", records);

    /// <summary>
    /// Renames the day's open file aside (appends after this start a new one) and returns it as a sealed segment;
    /// null when the day has nothing open.
    /// </summary>
    public JournalSegment? Seal(string day)
    {
        var file = JournalFiles.OpenFile(day);
        lock (_gate)
        {
            if (_open.Remove(file, out var stream))
            {
                stream.Flush(flushToDisk: true);
                stream.Dispose();
            }

            var path = Path.Combine(_directory, file);
            if (!File.Exists(path))
            {
                return null;
            }

            if (new FileInfo(path).Length == 0)
            {
                File.Delete(path);
                return null;
            }

            var name = $"{JournalFiles.Prefix}{day}.{DateTime.UtcNow.Ticks:D19}";
            var sealedPath = Path.Combine(_directory, name + JournalFiles.SealedSuffix);
            File.Move(path, sealedPath);
            return new JournalSegment(day, name, sealedPath, new FileInfo(sealedPath).Length, SegmentState.Sealed);
        }
    }

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
        using var reader = new StreamReader(JournalFiles.OpenRead(path), Encoding.UTF8);
        while (true)
        {
            string? line;
            try
            {
                line = reader.ReadLine();
            }
            catch (InvalidDataException)
            {
                // A compressed segment cut short: it is only renamed into place complete, so this is damage, not a crash.
                yield break;
            }

            if (line is null)
            {
                yield break;
            }

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

    /// <summary>Deletes every file (records and rollups) of the days before <paramref name="oldestKept"/>.</summary>
    public void DeleteOlderThan(DateOnly oldestKept)
    {
        foreach (var segment in JournalFiles.List(_directory).Where(s => JournalFiles.ParseDay(s.Day) < oldestKept))
        {
            if (segment.State == SegmentState.Open)
            {
                Seal(segment.Day);
            }

            DeleteSegment(segment.Name);
        }

        foreach (var day in JournalFiles.RollupDays(_directory).Where(d => JournalFiles.ParseDay(d) < oldestKept).ToList())
        {
            File.Delete(Path.Combine(_directory, JournalFiles.RollupFile(day)));
        }
    }

    /// <summary>Deletes a finished segment, whichever state it is in.</summary>
    public void DeleteSegment(string name)
    {
        File.Delete(Path.Combine(_directory, name + JournalFiles.CompressedSuffix));
        File.Delete(Path.Combine(_directory, name + JournalFiles.SealedSuffix));
    }

    private IEnumerable<string> Files(string pattern) => System.IO.Directory.EnumerateFiles(_directory, pattern).Order(StringComparer.Ordinal);

    private void Append(string file, IEnumerable<UsageRecord> records)
    {
        // Serialized straight to UTF-8 in a pooled buffer (not to a string, a builder and bytes again): a line per request.
        using var lines = new PooledBufferWriter(1024);
        using (var json = new Utf8JsonWriter(lines))
        {
            foreach (var r in records)
            {
                JsonSerializer.Serialize(json, r, UsageJson.Default.UsageRecord);
                json.Flush();
                lines.GetSpan(1)[0] = (byte)'\n';
                lines.Advance(1);
                // One JSON value per line: the writer starts over for the next.
                json.Reset(lines);
            }
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

            stream.Write(lines.WrittenSpan);
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
