using Gateway.Translators.Translation;

namespace Gateway.Errors;

/// <summary>
/// Every error the gateway answers with, in the OpenAI vocabulary
/// (<c>{"error":{"message","type","param","code"}}</c>). The one place where statuses are chosen.
/// </summary>
internal sealed record GatewayError(int Status, string Type, string Message, string? Param = null, string? Code = null)
{
    public TimeSpan? RetryAfter { get; init; }

    private const string InvalidRequest = "invalid_request_error";
    private const string ServerError = "server_error";

    public static GatewayError BadRequest(RequestError e) => new(400, InvalidRequest, e.Message, e.Param, e.Code);

    public static GatewayError MissingKey() => new(401, InvalidRequest,
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.", Code: "missing_api_key");

    public static GatewayError InvalidKey() => new(401, InvalidRequest, "Incorrect API key provided.", Code: "invalid_api_key");

    public static GatewayError KeyRevoked() => new(401, InvalidRequest, "This API key was revoked.", Code: "key_revoked");

    public static GatewayError KeyExpired(DateTimeOffset at) => new(401, InvalidRequest,
        $"This API key expired at {at.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}.", Code: "key_expired");

    /// <summary>A key in a team this replica does not know (deleted, or not yet heard of): refused, never admitted past the team's limits.</summary>
    public static GatewayError TeamUnknown(string team) => new(403, InvalidRequest,
        $"This API key belongs to team '{team}', which does not exist; ask an administrator to move the key or to create the team.",
        Code: "team_not_found");

    public static GatewayError KeyRotated() => new(401, InvalidRequest,
        "This API key was replaced by a new one and its grace period is over; use the new key.", Code: "key_rotated");

    public static GatewayError ModelNotFound(string model) => new(404, InvalidRequest,
        $"The model '{model}' does not exist or you do not have access to it.", "model", "model_not_found");

    public static GatewayError UnknownRoute(string method, string path) => new(404, InvalidRequest,
        $"Invalid URL ({method} {path}).", Code: "unknown_url");

    public static GatewayError MethodNotAllowed(string method, string path) => new(405, InvalidRequest,
        $"Method {method} is not allowed for {path}.", Code: "method_not_allowed");

    public static GatewayError BodyTooLarge(long limit) => new(413, InvalidRequest,
        $"The request body is larger than the {limit} bytes this gateway accepts.", Code: "request_too_large");

    public static GatewayError InvalidDeadline(string message) => new(400, InvalidRequest, message, Code: "invalid_timeout");

    public static GatewayError InvalidCacheHeader(string message) => new(400, InvalidRequest, message, Code: "invalid_cache_header");

    public static GatewayError DeadlineExceeded(TimeSpan budget) => new(504, ServerError,
        $"The request did not finish within its deadline of {(long)budget.TotalMilliseconds} ms; retries and fallbacks included.", Code: "deadline_exceeded");

    public static GatewayError Internal() => new(500, ServerError,
        "The gateway failed to process the request. Retry, and report the x-request-id if it persists.", Code: "internal_error");

    // Failures of the provider are told in the gateway's own stable words: the provider's name, status and text stay in
    // the gateway's log (hostnames, account names and internal messages are nobody else's business).

    public static GatewayError ServerShuttingDown() => new(503, ServerError,
        "This gateway replica is shutting down; retry, another one will answer.", Code: "server_shutting_down") { RetryAfter = TimeSpan.FromSeconds(1) };

    public static GatewayError ProviderNotConfigured() => new(502, ServerError,
        "The model's provider is not configured on this gateway.", Code: "provider_not_configured");

    public static GatewayError NoDeploymentAvailable() => new(503, ServerError,
        "Every deployment of the model is failing and being probed; retry shortly.", Code: "no_deployment_available") { RetryAfter = TimeSpan.FromSeconds(1) };

    public static GatewayError UpstreamUnreachable() => new(502, ServerError,
        "The model's provider could not be reached. Retry shortly.", Code: "upstream_unreachable");

    public const string UpstreamTimeoutCode = "upstream_timeout";

    public static GatewayError UpstreamTimeout() => new(504, ServerError,
        "The model's provider did not answer in time.", Code: UpstreamTimeoutCode);

    public static GatewayError UpstreamInvalidResponse() => new(502, ServerError,
        "The model's provider sent an answer the gateway could not read.", Code: "upstream_invalid_response");

    public static GatewayError StreamInterrupted() => new(502, ServerError,
        "The answer from the model's provider ended before it was complete.", Code: "upstream_stream_interrupted");

    public static GatewayError StreamFailed() => new(502, ServerError,
        "The model's provider failed during the answer.", Code: "upstream_error");

    /// <summary>
    /// Maps a classified provider error; never includes the provider key. Only where the provider blames the request
    /// (its 400/422) does its own message reach the client, since the client has to change something.
    /// </summary>
    public static GatewayError FromUpstream(UpstreamError e) => e.Class switch
    {
        UpstreamErrorClass.CallerFault => new(400, InvalidRequest,
            $"The model's provider rejected the request: {e.Message}", Code: "upstream_rejected_request"),
        UpstreamErrorClass.Credential => new(502, ServerError,
            "The gateway's credentials were refused by the model's provider; the operator must fix them.", Code: "upstream_authentication_failed"),
        UpstreamErrorClass.Quota => new(502, ServerError,
            "The gateway's account at the model's provider is out of balance or credits.", Code: "upstream_quota_exhausted"),
        UpstreamErrorClass.RateLimited => new(429, "requests",
            "The model's provider is rate limiting requests. Retry after the time given.", Code: "rate_limit_exceeded") { RetryAfter = e.RetryAfter },
        UpstreamErrorClass.Misconfigured => new(502, ServerError,
            "The model is not available at its provider as configured.", Code: "upstream_misconfigured"),
        _ => new(502, ServerError, "The model's provider failed. Retry shortly.", Code: "upstream_error"),
    };
}
