using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Translators.Contract;

namespace Gateway.Caching;

/// <summary>
/// One cached answer as stored: the completion exactly as the client received it (finish reasons already mapped,
/// without the per-request id, created and model, which every replay writes afresh), its usage, and what it cost.
/// </summary>
internal sealed class CachedAnswer
{
    /// <summary>The stored layout; entries of another version are ignored (a miss).</summary>
    public int Version { get; set; } = CurrentVersion;

    public required ChatCompletion Completion { get; set; }

    /// <summary>The counts in <see cref="ChatCompletion.Usage"/> were the gateway's estimate (the provider reported none).</summary>
    public bool Estimated { get; set; }

    /// <summary>What the provider call cost by the price table: a hit saves this much.</summary>
    public long CostMicros { get; set; }

    /// <summary>The deployment that answered (its id), so hits are metered under the same provider and upstream model.</summary>
    public string? Deployment { get; set; }

    public long StoredAt { get; set; }

    public const int CurrentVersion = 1;

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, CacheJson.Default.CachedAnswer);

    /// <summary>The entry, or null when the bytes are not an entry of this version (never an exception: a bad entry is a miss).</summary>
    public static CachedAnswer? FromBytes(byte[]? bytes)
    {
        if (bytes is null or { Length: 0 })
        {
            return null;
        }

        try
        {
            var answer = JsonSerializer.Deserialize(bytes, CacheJson.Default.CachedAnswer);
            return answer is { Version: CurrentVersion, Completion.Choices.Count: > 0 } ? answer : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(CachedAnswer))]
internal sealed partial class CacheJson : JsonSerializerContext;
