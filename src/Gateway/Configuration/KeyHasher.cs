using System.Security.Cryptography;
using System.Text;

namespace Gateway.Configuration;

/// <summary>How client keys are stored: lower-case hex SHA-256 of the UTF-8 key.</summary>
internal static class KeyHasher
{
    public static string HashHex(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>
    /// A short identity for a stored key hash: "k" and 20 hex digits of a SHA-256 over it, domain-separated, so state kept
    /// under it (Redis keys, cache scopes) names no key and reveals nothing usable about the hash it came from.
    /// </summary>
    public static string IdentityOf(byte[] hash)
    {
        Span<byte> input = stackalloc byte[15 + hash.Length];
        "gateway key id\n"u8.CopyTo(input);
        hash.CopyTo(input[15..]);
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(input, digest);
        return "k" + Convert.ToHexStringLower(digest[..10]);
    }
}
