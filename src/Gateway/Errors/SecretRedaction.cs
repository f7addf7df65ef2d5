namespace Gateway.Errors;

/// <summary>
/// Belt and braces: should a provider ever echo our key in an error, it stops here, before the client or the log sees
/// it. A value shorter than 8 characters is not looked for (it would scrub ordinary words).
/// </summary>
internal static class SecretRedaction
{
    public static string Scrub(string message, string? secret) =>
        secret is { Length: >= 8 } ? message.Replace(secret, "[redacted]", StringComparison.Ordinal) : message;
}
