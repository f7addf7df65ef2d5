using System.Diagnostics;
using Gateway.Auth;
using Gateway.Caching;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Lifecycle;
using Gateway.Metering;
using Gateway.RateLimiting;
using Gateway.Telemetry;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;
using Gateway.Requests;

namespace Gateway.Endpoints;

/// <summary>
/// <c>POST /v1/chat/completions</c>: authenticate, read and validate the body once, resolve the
/// model, look the answer up in the response cache, admit against limits, answer from the cache or
/// forward, settle, meter. Every refusal is an OpenAI error, and every request leaves its telemetry and is
/// counted in usage: an admitted one as a record of its own, a refused one (nothing sent, nothing spent) in an
/// aggregate per key, model and outcome, so refusals cost storage per second, not per request.
/// </summary>
internal sealed partial class ChatCompletionsEndpoint(
    ChatForwarder forwarder,
    RateLimiter limiter,
    ResponseCache cache,
    CacheAwareAdmission admissions,
    IUsageSink usage,
    RequestTelemetry telemetry,
    GatewayLifecycle lifecycle,
    TimeProvider clock,
    ILogger<ChatCompletionsEndpoint> logger) : IReportsRefusedCallers
{
    /// <summary>Runs once the client-key policy admitted the caller (<see cref="GatewayPolicies.ClientKey"/>).</summary>
    public async Task HandleAsync(HttpContext context)
    {
        using var span = RequestTelemetry.Start();
        var started = clock.GetTimestamp();
        var (key, snapshot) = context.Caller();

        // The deadline counts from here: reading the body is part of the request's time.
        using var deadline = RequestDeadline.Read(context.Request, snapshot.Routing.DefaultTimeout, snapshot.Routing.MaxTimeout, clock,
            out var deadlineError);
        var (read, readError) = deadline is null ? (null, deadlineError) : await ReadRequestAsync(context, snapshot);
        if (read is null)
        {
            await RefuseAsync(context, span, readError!, key, null, false, started);
            return;
        }

        var route = snapshot.FindModel(read.Model!, key);
        if (route is null)
        {
            // Unknown names are not recorded as models: they would flood the rollups.
            await RefuseAsync(context, span, GatewayError.ModelNotFound(read.Model!), key, null, read.IsStreaming, started);
            return;
        }

        RequestTelemetry.ModelKnown(span, route.Name);
        // The request as it will be sent (the key's completion cap applied), before anything is keyed on it; fixed from here.
        var request = RateLimiter.CapMaxTokens(read, key, route, snapshot.Limiter);
        // Everything downstream stops when the client leaves, when the deadline passes, or when this replica's shutdown
        // grace is over; the stop says which. The client's own token stays on the context, for writing to the client.
        using var stop = new RequestStop(context.RequestAborted, lifecycle.ServerStopping, deadline!.Token);
        var exchange = new ChatExchange(RequestIds.Get(context), key, request, route, snapshot.Routing, deadline, stop, clock);
        var cached = cache.Decide(context, exchange, snapshot.Cache);
        if (cached.Error is { } cacheError)
        {
            await RefuseAsync(context, span, cacheError, key, route.Name, request.IsStreaming, started);
            return;
        }

        CacheHeaders.Apply(context.Response, cached);
        // The cache lookup goes out with the admission; a hit spends no tokens and no money.
        var admission = await admissions.AdmitAsync(exchange, cached, snapshot.Cache);
        SetRateLimitHeaders(context, admission);
        if (!admission.Admitted)
        {
            await ErrorWriter.WriteAsync(context, admission.Error!);
            Refused(UsageRecords.From(exchange, null, admission.Error!.Status) with { Outcome = admission.Error.Code ?? "rejected" }, span);
            return;
        }

        // From here on the reservation is settled and the request recorded whatever happens.
        AttemptResult? result = null;
        try
        {
            // The cache's answer (stored, or an identical request's in flight), else the provider's.
            result = await cache.ServeAsync(context, exchange, cached, snapshot.Cache)
                ?? await forwarder.ForwardAsync(context, exchange, cached.Recorder);
        }
        catch (OperationCanceledException) when (stop.IsStopped)
        {
            result = AttemptResult.Gone;
        }
        catch (Exception ex)
        {
            Log.Unexpected(logger, ex, exchange.RequestId);
            result = new AttemptResult(context.Response.HasStarted ? AttemptOutcome.FailedDuringResponse : AttemptOutcome.FailedBeforeResponse,
                GatewayError.Internal());
            await ErrorWriter.WriteAsync(context, result.Error!);
        }
        finally
        {
            if (result?.Outcome == AttemptOutcome.ClientGone && stop.Reason is StopReason.ServerStopping or StopReason.DeadlineExceeded)
            {
                // Not the client's leaving: the grace is over, or the deadline passed. The client is told which.
                var ended = await EndedEarlyAsync(context, stop.Reason == StopReason.ServerStopping
                    ? GatewayError.ServerShuttingDown()
                    : GatewayError.DeadlineExceeded(deadline.Budget!.Value));
                result = ended.Carrying(result);
            }

            var status = result?.Outcome == AttemptOutcome.ClientGone ? 499 : result?.Error?.Status ?? context.Response.StatusCode;
            var record = UsageRecords.From(exchange, result, status);
            cache.Complete(cached, result);
            // An answer from the cache spends none of the key's tokens.
            limiter.Settle(admission, result?.Answer?.FromCache == true ? 0 : record.PromptTokens + record.CompletionTokens, record.CostMicros);
            Finish(record, span);
        }
    }

    /// <summary>
    /// A caller without a valid key (the policy refused it, before this endpoint ran): counted with the other refusals,
    /// and logged at Debug only, since strangers could flood the log. Refused at once, so no latency is recorded.
    /// </summary>
    public void Refused(HttpContext context, GatewayError error)
    {
        using var span = RequestTelemetry.Start();
        var refusal = UsageRecords.Refused(RequestIds.Get(context), null, null, error.Status, error.Code ?? "refused", false,
            TimeSpan.Zero, clock.GetUtcNow());
        usage.CountRefusal(refusal);
        telemetry.Completed(refusal, span, anonymous: true);
    }

    /// <summary>The request was stopped for the client (grace over, deadline passed): told in the answer or as the stream's last event.</summary>
    private static async Task<AttemptResult> EndedEarlyAsync(HttpContext context, GatewayError error)
    {
        if (context.Response.HasStarted)
        {
            await ErrorWriter.WriteEventAsync(context.Response, error, context.RequestAborted);
            return AttemptResult.During(error);
        }

        await ErrorWriter.WriteAsync(context, error);
        return AttemptResult.Before(error, retryable: false);
    }

    private void Finish(UsageRecord record, Activity? span)
    {
        usage.Record(record);
        telemetry.Completed(record, span);
    }

    /// <summary>A request refused before anything was sent or spent: counted in an aggregate, not stored on its own.</summary>
    private void Refused(UsageRecord record, Activity? span)
    {
        usage.CountRefusal(record);
        telemetry.Completed(record, span);
    }

    private async Task RefuseAsync(HttpContext context, Activity? span, GatewayError error, ClientKey key, string? model, bool streamed, long started)
    {
        await ErrorWriter.WriteAsync(context, error);
        Refused(UsageRecords.Refused(RequestIds.Get(context), key, model, error.Status, error.Code ?? "refused", streamed,
            clock.GetElapsedTime(started), clock.GetUtcNow()), span);
    }

    private static void SetRateLimitHeaders(HttpContext context, Admission admission)
    {
        var (requests, tokens) = admission.HeaderStates();
        if (requests is null && tokens is null)
        {
            return;
        }

        // OnStarting, so error answers written after Response.Clear() carry them too. Its state in one object, the
        // callback static (a closure would be two objects a request).
        context.Response.OnStarting(static state =>
        {
            var (response, requests, tokens) = ((HttpResponse, WindowState?, WindowState?))state;
            RateLimitHeaders.Apply(response.Headers, requests, tokens);
            return Task.CompletedTask;
        }, (context.Response, requests, tokens));
    }

    private async Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadRequestAsync(HttpContext context, GatewaySnapshot snapshot)
    {
        var body = await RequestBodyReader.ReadAsync(context, snapshot.Server.MaxRequestBodyBytes, logger);
        if (body.Error is not null || body.ClientGone)
        {
            return (null, body.Error ?? ClientClosed);
        }

        try
        {
            return ChatRequestReader.TryRead(body.Span, out var request, out var error)
                ? (request, null)
                : (null, GatewayError.BadRequest(error!));
        }
        finally
        {
            body.Return();
        }
    }

    // Nothing is written to a client that left; the status is what the usage record says.
    private static readonly GatewayError ClientClosed = new(499, "invalid_request_error", "The client closed the connection.", Code: "client_closed");

    private static partial class Log
    {
        [LoggerMessage(30, LogLevel.Error, "{RequestId}: the request failed inside the gateway")]
        public static partial void Unexpected(ILogger logger, Exception exception, string requestId);
    }
}
