using Gateway.Errors;

namespace Gateway.Forwarding;

/// <summary>How one attempt at one deployment ended.</summary>
internal enum AttemptOutcome
{
    /// <summary>The client received a whole answer.</summary>
    Succeeded,

    /// <summary>Nothing reached the client; <see cref="AttemptResult.Error"/> says why, and another deployment may try.</summary>
    FailedBeforeResponse,

    /// <summary>The answer had started and then failed; the client got an error event.</summary>
    FailedDuringResponse,

    /// <summary>The client went away; the upstream request was cancelled.</summary>
    ClientGone,

    /// <summary>This deployment cannot honour the request as sent (nothing was sent anywhere); another may.</summary>
    Rejected,
}

internal sealed record AttemptResult(AttemptOutcome Outcome, GatewayError? Error = null, bool Retryable = false)
{
    public static readonly AttemptResult Success = new(AttemptOutcome.Succeeded);
    public static readonly AttemptResult Gone = new(AttemptOutcome.ClientGone);

    public static AttemptResult Before(GatewayError error, bool retryable) => new(AttemptOutcome.FailedBeforeResponse, error, retryable);

    public static AttemptResult During(GatewayError error) => new(AttemptOutcome.FailedDuringResponse, error);

    public static AttemptResult Reject(Translators.Translation.RequestError error) => new(AttemptOutcome.Rejected, GatewayError.BadRequest(error));
}
