using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gateway.Requests;

/// <summary>
/// What one request consumed and how it ended: one record per request, whatever the outcome.
/// Money is integer micro-dollars. <see cref="Id"/> is unique per request (the gateway's own),
/// so a record written twice (a retried write, a replayed journal) is counted once.
/// </summary>
internal sealed record UsageRecord
{
    /// <summary>What a record names when it has no key, model or provider (a refusal before they were known).</summary>
    public const string None = "(none)";

    public required string Id { get; init; }
    public required string RequestId { get; init; }

    /// <summary>The client key's name; "(none)" when the request had no valid key.</summary>
    public required string Key { get; init; }

    /// <summary>
    /// The client key's identity (<see cref="Configuration.ClientKey.Id"/>), which a name reused for another key never
    /// shares: the key's own usage view reads the rollups kept under it. Absent for requests without a valid key.
    /// </summary>
    public string? KeyId { get; init; }

    /// <summary>The team the key belonged to when the request was admitted (absent: none); usage rolls up by it.</summary>
    public string? Team { get; init; }

    /// <summary>The public model name; "(none)" when the request named no known model.</summary>
    public required string Model { get; init; }

    public string? Provider { get; init; }
    public string? UpstreamModel { get; init; }
    public int PromptTokens { get; init; }
    public int CompletionTokens { get; init; }

    /// <summary>True when the counts are the gateway's estimate because the provider reported none.</summary>
    public bool Estimated { get; init; }

    /// <summary>Cost from the price table.</summary>
    public long CostMicros { get; init; }

    /// <summary>The provider's own figure where it gives one (DeepInfra estimated_cost, Hive charge, Segmind x-cost).</summary>
    public long? ProviderCostMicros { get; init; }

    /// <summary>For a cache hit (outcome <c>cache_hit</c>, cost 0): what the answer cost when the provider made it.</summary>
    public long SavedMicros { get; init; }

    public int Status { get; init; }
    public required string Outcome { get; init; }
    public bool Streamed { get; init; }
    public double LatencyMs { get; init; }
    public double? TimeToFirstTokenMs { get; init; }

    /// <summary>When the request ended. Written and read in JSON as <see cref="TimestampText"/>.</summary>
    [JsonIgnore]
    public DateTimeOffset Timestamp { get; init; }

    /// <summary>
    /// The timestamp as journal lines and stream entries hold it: ISO 8601 in UTC to the millisecond
    /// (<c>2026-11-30T05:06:48.884Z</c>), 9 characters shorter than the default's ticks and offset; any ISO 8601 form is
    /// read, so older journals stay readable. A property of its own rather than a converter on <see cref="Timestamp"/>:
    /// any converter keeps System.Text.Json from using the serializer the source generator writes for the record, and the
    /// one it uses instead (property by property, through the metadata) cost ~13,500 instructions a record
    /// (bench/instructions.sh; docs/performance.md, fourteenth round).
    /// </summary>
    [JsonPropertyName("timestamp")]
    public string? TimestampText
    {
        // Absent for an unset timestamp, as the default value was left out before.
        get => Timestamp == default ? null : UtcMilliseconds.Format(Timestamp);
        init => Timestamp = value is null ? default : UtcMilliseconds.Parse(value);
    }

    /// <summary>How many requests this record stands for: absent (1) for one request; more for an aggregate of anonymous refusals.</summary>
    public long? Count { get; init; }

    [JsonIgnore]
    public long Requests => Count ?? 1;

    [JsonIgnore]
    public string Day => UtcHourNames.Day(Timestamp);

    /// <summary>The UTC hour, <c>2026-11-30T07</c>: hourly rollups are kept for <see cref="UsageQuery.HourlyDays"/> days.</summary>
    [JsonIgnore]
    public string Hour => UtcHourNames.Hour(Timestamp);

    [JsonIgnore]
    public bool Failed => Status >= 400;

    public const string CacheHitOutcome = "cache_hit";

    [JsonIgnore]
    public bool CacheHit => Outcome == CacheHitOutcome;
}

// Compact lines (the journal holds one per request): false, zero and absent fields are left out, and read back as such.
// No converters here: with any, System.Text.Json leaves the generated serializer unused (see TimestampText).
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(UsageRecord))]
internal sealed partial class UsageJson : JsonSerializerContext;

/// <summary>A usage record's timestamp as text: written in UTC to the millisecond, read from any ISO 8601 form.</summary>
internal static class UtcMilliseconds
{
    /// <summary>
    /// <c>yyyy-MM-ddTHH:mm:ss.fffZ</c>, digit by digit: the same text as the custom format string, which cost ~1,900
    /// instructions a record more (its parsing on every call; bench/instructions.sh, docs/performance.md, fourteenth round).
    /// </summary>
    public static string Format(DateTimeOffset value) => string.Create(24, value.UtcDateTime, static (text, utc) =>
    {
        Digits(text[..4], utc.Year);
        text[4] = '-';
        Digits(text.Slice(5, 2), utc.Month);
        text[7] = '-';
        Digits(text.Slice(8, 2), utc.Day);
        text[10] = 'T';
        Digits(text.Slice(11, 2), utc.Hour);
        text[13] = ':';
        Digits(text.Slice(14, 2), utc.Minute);
        text[16] = ':';
        Digits(text.Slice(17, 2), utc.Second);
        text[19] = '.';
        Digits(text.Slice(20, 3), utc.Millisecond);
        text[23] = 'Z';
    });

    private static void Digits(Span<char> text, int value)
    {
        for (var i = text.Length - 1; i >= 0; i--)
        {
            text[i] = (char)('0' + value % 10);
            value /= 10;
        }
    }

    /// <exception cref="JsonException">Not a date and time: the line is as unreadable as one cut mid-write.</exception>
    public static DateTimeOffset Parse(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var value)
            ? value
            : throw new JsonException("A usage record's timestamp is not a date and time.");
}
