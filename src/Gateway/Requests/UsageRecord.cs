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

    [JsonConverter(typeof(UtcMillisecondsConverter))]
    public DateTimeOffset Timestamp { get; init; }

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
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(UsageRecord))]
internal sealed partial class UsageJson : JsonSerializerContext;

/// <summary>
/// Timestamps as ISO 8601 in UTC to the millisecond (<c>2026-11-30T05:06:48.884Z</c>), 9 characters shorter than the
/// default's ticks and offset; any ISO 8601 form is read, so older journals stay readable.
/// </summary>
internal sealed class UtcMillisecondsConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        reader.GetDateTimeOffset();

    public override void Write(System.Text.Json.Utf8JsonWriter writer, DateTimeOffset value, System.Text.Json.JsonSerializerOptions options)
    {
        Span<byte> text = stackalloc byte[24];
        var utc = value.UtcDateTime;
        var ok = utc.TryFormat(text, out var written, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        writer.WriteStringValue(ok ? text[..written] : System.Text.Encoding.UTF8.GetBytes(utc.ToString("O", System.Globalization.CultureInfo.InvariantCulture)));
    }
}
