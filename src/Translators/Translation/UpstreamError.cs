namespace Gateway.Translators.Translation;

/// <summary>
/// Provider failures classified once, so the retry loop and the error writer read the class
/// rather than raw status codes (each provider uses its own codes for the same situation).
/// </summary>
public enum UpstreamErrorClass
{
    /// <summary>The request itself was refused (bad parameter, context too long): the client must change it.</summary>
    CallerFault,

    /// <summary>The provider rejected the gateway's own credentials.</summary>
    Credential,

    /// <summary>The gateway's account at the provider is out of balance or credits.</summary>
    Quota,

    /// <summary>The provider is rate limiting the gateway.</summary>
    RateLimited,

    /// <summary>The provider does not know the URL or model the gateway was configured with.</summary>
    Misconfigured,

    /// <summary>The provider failed in a way that may pass (5xx, 408, malformed answer).</summary>
    Transient,
}

/// <summary>A provider's error answer, read from its own error shape.</summary>
public sealed record UpstreamError(UpstreamErrorClass Class, int Status, string Message, TimeSpan? RetryAfter = null);

/// <summary>The usual meaning of provider status codes; providers override their own oddities.</summary>
public static class StatusClasses
{
    public static UpstreamErrorClass Default(int status) => status switch
    {
        401 or 403 => UpstreamErrorClass.Credential,
        402 => UpstreamErrorClass.Quota,
        429 => UpstreamErrorClass.RateLimited,
        404 or 405 => UpstreamErrorClass.Misconfigured,
        400 or 409 or 413 or 422 => UpstreamErrorClass.CallerFault,
        _ => UpstreamErrorClass.Transient,
    };
}
