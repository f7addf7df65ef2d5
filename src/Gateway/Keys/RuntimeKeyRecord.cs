using System.Text.Json.Serialization;
using Gateway.Configuration;

namespace Gateway.Keys;

/// <summary>
/// A client key made at runtime through <c>/admin/keys</c>, as it is stored (Redis, or the data directory): never the
/// secret, only its SHA-256. <see cref="Id"/> is the key's identity for its counters and usage, stable across
/// rotations; <see cref="Prefix"/> is the visible, non-secret start of the secret that names it in logs and lists.
/// </summary>
internal sealed record RuntimeKeyRecord
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Prefix { get; init; }

    /// <summary>Lower-case hex SHA-256 of the current secret.</summary>
    public required string Hash { get; init; }

    /// <summary>The secret before the last rotation, still accepted until <see cref="PreviousValidUntil"/>.</summary>
    public string? PreviousHash { get; init; }
    public DateTimeOffset? PreviousValidUntil { get; init; }

    public List<string> Models { get; init; } = ["*"];
    public KeyLimitOptions? Limits { get; init; }
    public DateTimeOffset? ExpiresAt { get; init; }
    public string? Team { get; init; }
    public Dictionary<string, string> Metadata { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>Bumped by every change: a change is saved only over the revision it was made from.</summary>
    public long Revision { get; init; }
}

/// <summary>
/// A team made through <c>/admin/teams</c>: its own limits and budget, which every request of every key in it must also
/// fit. <see cref="Id"/> names its counters (a team made later under the same name starts afresh).
/// </summary>
internal sealed record RuntimeTeamRecord
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public KeyLimitOptions? Limits { get; init; }
    public Dictionary<string, string> Metadata { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Bumped by every change: a change is saved only over the revision it was made from.</summary>
    public long Revision { get; init; }
}

/// <summary>
/// One change to a runtime key or team, for the audit trail: who (which admin key, from where), what, when; never a
/// secret. <see cref="Key"/> names the key, or the team for a team's change (<see cref="IsTeamChange"/>).
/// </summary>
internal sealed record KeyAuditEntry(DateTimeOffset At, string Admin, string From, string Action, string Key, IReadOnlyList<string> Changed)
{
    public const string TeamAction = "team.";

    public bool IsTeamChange => Action.StartsWith(TeamAction, StringComparison.Ordinal);
}

/// <summary>A change announced to the fleet: the store's version after it, and the key (or <c>team:</c> and the team) it touched.</summary>
internal readonly record struct KeyChange(long Version, string Name)
{
    // Names never hold a colon (KeyRequest.IsValidName), so a team's change cannot be read as a key's.
    private const string TeamPrefix = "team:";

    public static string OfTeam(string team) => TeamPrefix + team;

    public string? Team => Name.StartsWith(TeamPrefix, StringComparison.Ordinal) ? Name[TeamPrefix.Length..] : null;
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RuntimeKeyRecord))]
[JsonSerializable(typeof(List<RuntimeKeyRecord>))]
[JsonSerializable(typeof(RuntimeTeamRecord))]
[JsonSerializable(typeof(List<RuntimeTeamRecord>))]
[JsonSerializable(typeof(KeyAuditEntry))]
internal sealed partial class KeyJson : JsonSerializerContext;
