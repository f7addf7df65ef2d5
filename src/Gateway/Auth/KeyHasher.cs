using System.Security.Cryptography;
using System.Text;

namespace Gateway.Auth;

/// <summary>How client keys are stored: lower-case hex SHA-256 of the UTF-8 key.</summary>
internal static class KeyHasher
{
    public static string HashHex(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
}
