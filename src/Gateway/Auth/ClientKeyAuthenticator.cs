using System.Security.Cryptography;
using System.Text;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Auth;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> against the configured SHA-256 hashes.
/// Only hashes are stored; the lookup is by hash, and the final comparison is constant-time so
/// the timing of a miss reveals nothing about stored keys.
/// </summary>
internal static class ClientKeyAuthenticator
{
    private const int MaxKeyLength = 512;

    public static ClientKey? Authenticate(HttpRequest request, GatewaySnapshot snapshot, IKeyDirectory runtime, out GatewayError? error)
    {
        var presented = ReadBearer(request.Headers.Authorization.ToString());
        if (presented.IsEmpty)
        {
            error = GatewayError.MissingKey();
            return null;
        }

        if (presented.Length > MaxKeyLength)
        {
            error = GatewayError.InvalidKey();
            return null;
        }

        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(MaxKeyLength)];
        var length = Encoding.UTF8.GetBytes(presented, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        var lookup = snapshot.KeysByHash.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> hex = stackalloc char[SHA256.HashSizeInBytes * 2];
        Convert.TryToHexStringLower(hash, hex, out _);
        if (lookup.TryGetValue(hex, out var key) && CryptographicOperations.FixedTimeEquals(key.Hash, hash))
        {
            error = null;
            return key;
        }

        // Keys made at runtime (/admin/keys): looked up in this replica's memory, never in Redis.
        var (runtimeKey, refusal) = runtime.Find(hex, snapshot);
        error = runtimeKey is null ? refusal ?? GatewayError.InvalidKey() : null;
        return runtimeKey;
    }

    private static ReadOnlySpan<char> ReadBearer(string header)
    {
        var value = header.AsSpan().Trim();
        const string scheme = "Bearer ";
        return value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) ? value[scheme.Length..].Trim() : [];
    }
}
