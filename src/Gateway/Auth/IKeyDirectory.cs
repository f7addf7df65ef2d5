using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Auth;

/// <summary>Keys beyond the configuration's own (those made at runtime), looked up by the hash of the presented secret.</summary>
internal interface IKeyDirectory
{
    /// <summary>The key, or the refusal its holder gets (revoked, expired, rotated out); (null, null) when none has that hash.</summary>
    (ClientKey? Key, GatewayError? Refusal) Find(ReadOnlySpan<char> hashHex, GatewaySnapshot snapshot);

    /// <summary>Every such key, compiled against <paramref name="snapshot"/> (revoked and expired ones too: they may still hold reservations).</summary>
    IEnumerable<ClientKey> Keys(GatewaySnapshot snapshot);

    /// <summary>How many of them are not revoked.</summary>
    int ActiveCount { get; }
}
