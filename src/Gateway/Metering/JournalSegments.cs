using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Metering;

/// <summary>
/// One file of a day's usage records. <see cref="Name"/> is its identity whatever state it is in: the open file
/// (<c>usage-YYYY-MM-DD.jsonl</c>, still appended to), sealed (<c>usage-YYYY-MM-DD.TICKS.jsonl.sealed</c>, renamed
/// aside, being compressed) or compressed (<c>usage-YYYY-MM-DD.TICKS.jsonl.gz</c>).
/// </summary>
internal sealed record JournalSegment(string Day, string Name, string Path, long Bytes, SegmentState State);

internal enum SegmentState { Open, Sealed, Compressed }

/// <summary>
/// A finished part of a day summed up: the rollup cells of every record in the listed segments. Segments it lists
/// may since have been deleted (records past their retention or the size cap); their usage stays here until the
/// rollup retention. Written whole and renamed into place, so it is either the old or the new one.
/// </summary>
internal sealed record DayRollup(string Day, List<string> Segments, List<RollupCell> Cells);

/// <param name="Team">The key's team (absent: none, and in files from before teams).</param>
internal sealed record RollupCell(string Key, string Model, string Provider, long[] Values, string? Team = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(DayRollup))]
internal sealed partial class RollupJson : JsonSerializerContext;

/// <summary>File names and the crash-safe steps on them: seal (a rename), compress (write aside, flush, rename), roll up.</summary>
internal static class JournalFiles
{
    public const string Prefix = "usage-";
    public const string OpenSuffix = ".jsonl";
    public const string SealedSuffix = ".jsonl.sealed";
    public const string CompressedSuffix = ".jsonl.gz";
    private const string TemporarySuffix = ".tmp";

    public static string OpenFile(string day) => $"{Prefix}{day}{OpenSuffix}";

    public static string RollupFile(string day) => $"rollup-{day}.json";

    /// <summary>The day's segments and their states; leftovers of a crash mid-step are resolved first.</summary>
    public static List<JournalSegment> List(string directory)
    {
        // Only this class's own temporaries: a compressed segment or a rollup cut short by a crash.
        foreach (var temporary in Directory.EnumerateFiles(directory, Prefix + "*" + TemporarySuffix)
                     .Concat(Directory.EnumerateFiles(directory, "rollup-*" + TemporarySuffix)))
        {
            File.Delete(temporary);
        }

        var segments = new List<JournalSegment>();
        foreach (var path in Directory.EnumerateFiles(directory, Prefix + "*").Order(StringComparer.Ordinal))
        {
            var file = System.IO.Path.GetFileName(path);
            var (name, state) = file.EndsWith(CompressedSuffix, StringComparison.Ordinal) ? (file[..^CompressedSuffix.Length], SegmentState.Compressed)
                : file.EndsWith(SealedSuffix, StringComparison.Ordinal) ? (file[..^SealedSuffix.Length], SegmentState.Sealed)
                : file.EndsWith(OpenSuffix, StringComparison.Ordinal) ? (file[..^OpenSuffix.Length], SegmentState.Open)
                : (null, SegmentState.Open);
            if (name is null || DayOf(name) is not { } day)
            {
                continue;
            }

            if (state == SegmentState.Sealed && File.Exists(System.IO.Path.Combine(directory, name + CompressedSuffix)))
            {
                // Compressed copy complete (it is renamed into place only once flushed): the sealed original is a leftover.
                File.Delete(path);
                continue;
            }

            segments.Add(new JournalSegment(day, name, path, new FileInfo(path).Length, state));
        }

        return segments;
    }

    /// <summary>Compresses a sealed segment: written aside, flushed to disk, renamed into place, then the original goes.</summary>
    public static void Compress(string directory, JournalSegment segment)
    {
        var target = System.IO.Path.Combine(directory, segment.Name + CompressedSuffix);
        var temporary = target + TemporarySuffix;
        using (var source = File.OpenRead(segment.Path))
        using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
            {
                source.CopyTo(gzip);
            }

            output.Flush(flushToDisk: true);
        }

        File.Move(temporary, target, overwrite: true);
        File.Delete(segment.Path);
    }

    public static Stream OpenRead(string path)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(stream, CompressionMode.Decompress) : stream;
    }

    public static DayRollup? ReadRollup(string directory, string day)
    {
        var path = System.IO.Path.Combine(directory, RollupFile(day));
        return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), RollupJson.Default.DayRollup) : null;
    }

    public static void WriteRollup(string directory, DayRollup rollup)
    {
        var path = System.IO.Path.Combine(directory, RollupFile(rollup.Day));
        var temporary = path + TemporarySuffix;
        using (var output = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            JsonSerializer.Serialize(output, rollup, RollupJson.Default.DayRollup);
            output.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    public static IEnumerable<string> RollupDays(string directory) =>
        Directory.EnumerateFiles(directory, "rollup-*.json").Select(p => System.IO.Path.GetFileNameWithoutExtension(p)["rollup-".Length..])
            .Where(d => ParseDay(d) is not null).Order(StringComparer.Ordinal);

    public static DateOnly? ParseDay(string day) =>
        DateOnly.TryParseExact(day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d) ? d : null;

    private static string? DayOf(string name)
    {
        var rest = name[Prefix.Length..];
        var day = rest.Length >= 10 ? rest[..10] : rest;
        return ParseDay(day) is not null && (rest.Length == 10 || rest[10] == '.') ? day : null;
    }
}
