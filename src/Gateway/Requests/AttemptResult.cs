using Gateway.Errors;
using Gateway.Translators.Translation;

namespace Gateway.Requests;

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
    /// <summary>What the attempt produced (usage, text, first token), when it reached a deployment or the cache.</summary>
    public ProducedAnswer? Answer { get; init; }

    /// <summary>
    /// What the providers charged, by their own figures, over every attempt that led to this result: a failed attempt
    /// that was charged, then a fallback, count both.
    /// </summary>
    public long? ProviderCostMicros { get; init; }

    /// <summary>This result, carrying what an earlier result produced and was charged (the request's end rewrote how it ended).</summary>
    public AttemptResult Carrying(AttemptResult? earlier) => this with { Answer = earlier?.Answer, ProviderCostMicros = earlier?.ProviderCostMicros };

    /// <summary>Adds what a provider charged for one attempt to this result's total.</summary>
    public AttemptResult Charged(long? micros) =>
        micros is { } m ? this with { ProviderCostMicros = (ProviderCostMicros ?? 0) + m } : this;

    /// <summary>The provider's own status when it answered with an error (routing retries its 502/503, not its 500).</summary>
    public int? UpstreamStatus { get; init; }

    /// <summary>
    /// The failure may have been shaped by what the client asked or how it reads: a whole answer that took longer than the
    /// provider's response timeout (the client chose how long to generate), a stream that outlived its total limit. The
    /// client gets the same error, and another deployment may still try, but the deployment's circuit does not count it.
    /// </summary>
    public bool ShapedByRequest { get; init; }

    /// <summary>
    /// A failure that says the deployment is unwell (its circuit counts it): the provider's fault, not the request's or a
    /// rate limit. A provider answer whose status is about the request's content (by the shared status table: 400, 409,
    /// 413, 422) never counts, whatever
    /// the gateway made of it: Hive's 400 for a model it does not serve is classified by its message, and the message can
    /// echo text the client sent. Refused credentials, an exhausted account or a wrong URL (401-405) do count.
    /// </summary>
    public bool IsDeploymentFault => Outcome is AttemptOutcome.FailedBeforeResponse or AttemptOutcome.FailedDuringResponse && Error is { Status: >= 500 }
        && !ShapedByRequest && (UpstreamStatus is not { } status || StatusClasses.Default(status) != UpstreamErrorClass.CallerFault);

    public static readonly AttemptResult Success = new(AttemptOutcome.Succeeded);
    public static readonly AttemptResult Gone = new(AttemptOutcome.ClientGone);

    public static AttemptResult Before(GatewayError error, bool retryable) => new(AttemptOutcome.FailedBeforeResponse, error, retryable);

    /// <summary>The provider answered with an error: another deployment may try unless the provider blamed the request.</summary>
    public static AttemptResult FromUpstream(Translators.Translation.UpstreamError error) =>
        new(AttemptOutcome.FailedBeforeResponse, GatewayError.FromUpstream(error), error.Class != Translators.Translation.UpstreamErrorClass.CallerFault)
        {
            UpstreamStatus = error.Status,
        };

    public static AttemptResult During(GatewayError error) => new(AttemptOutcome.FailedDuringResponse, error);

    public static AttemptResult Reject(Translators.Translation.RequestError error) => new(AttemptOutcome.Rejected, GatewayError.BadRequest(error));
}
