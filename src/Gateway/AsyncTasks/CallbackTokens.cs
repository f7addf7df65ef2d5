using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Gateway.Requests;

namespace Gateway.AsyncTasks;

public enum TokenCheck
{
    Valid,
    Invalid,
    Expired,
}

/// <summary>
/// Unguessable, signed, expiring callback tokens: <c>base64url(correlationId|provider|expiry)</c>
/// plus an HMAC-SHA256 of it under a secret every replica shares. Anyone can read a token; only
/// the gateway can make one, and it names exactly one awaited task.
/// </summary>
internal sealed class CallbackTokens(byte[] secret, TimeProvider clock)
{
    public string Create(string correlationId, string provider, DateTimeOffset expiresAt)
    {
        var payload = Encoding.UTF8.GetBytes($"{correlationId}|{provider}|{expiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");
        return Base64Url.EncodeToString(payload) + "." + Base64Url.EncodeToString(HMACSHA256.HashData(secret, payload));
    }

    public TokenCheck Verify(string? token, out string correlationId, out string provider)
    {
        correlationId = provider = "";
        var dot = token?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (token is null || dot <= 0 || token.Length > 512)
        {
            return TokenCheck.Invalid;
        }

        byte[] payload, signature;
        try
        {
            payload = Base64Url.DecodeFromChars(token.AsSpan(0, dot));
            signature = Base64Url.DecodeFromChars(token.AsSpan(dot + 1));
        }
        catch (FormatException)
        {
            return TokenCheck.Invalid;
        }

        if (!CryptographicOperations.FixedTimeEquals(signature, HMACSHA256.HashData(secret, payload)))
        {
            return TokenCheck.Invalid;
        }

        var parts = Encoding.UTF8.GetString(payload).Split('|');
        if (parts.Length != 3 || !long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var expiry))
        {
            return TokenCheck.Invalid;
        }

        (correlationId, provider) = (parts[0], parts[1]);
        return DateTimeOffset.FromUnixTimeSeconds(expiry) < clock.GetUtcNow() ? TokenCheck.Expired : TokenCheck.Valid;
    }

    public static string NewCorrelationId() => Ids.New("", 16);
}
