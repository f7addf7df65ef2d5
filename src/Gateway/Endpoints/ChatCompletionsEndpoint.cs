using System.Buffers;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Metering;
using Gateway.RateLimiting;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Endpoints;

/// <summary>
/// <c>POST /v1/chat/completions</c>: authenticate, read and validate the body once, resolve the
/// model, admit against limits, forward, settle, meter. Every refusal is an OpenAI error, and
/// every request, refused or not, leaves exactly one usage record.
/// </summary>
internal sealed class ChatCompletionsEndpoint(ConfigStore config, ChatForwarder forwarder, RateLimiter limiter, IUsageSink usage, TimeProvider clock)
{
    public async Task HandleAsync(HttpContext context)
    {
        var started = clock.GetTimestamp();
        var snapshot = config.Current;
        var key = ClientKeyAuthenticator.Authenticate(context.Request, snapshot, out var authError);
        if (key is null)
        {
            await RefuseAsync(context, authError!, null, null, false, started);
            return;
        }

        var (request, readError) = await ReadRequestAsync(context, snapshot);
        if (request is null)
        {
            await RefuseAsync(context, readError!, key.Name, null, false, started);
            return;
        }

        var route = snapshot.FindModel(request.Model!, key);
        if (route is null)
        {
            // Unknown names are not recorded as models: they would flood the rollups.
            await RefuseAsync(context, GatewayError.ModelNotFound(request.Model!), key.Name, null, request.IsStreaming, started);
            return;
        }

        var exchange = new ChatExchange(RequestIds.Get(context), key, request, route, clock);
        var admission = await limiter.AdmitAsync(exchange);
        SetRateLimitHeaders(context, admission);
        if (!admission.Admitted)
        {
            await ErrorWriter.WriteAsync(context, admission.Error!);
            usage.Record(UsageRecords.From(exchange, null, admission.Error!.Status) with { Outcome = admission.Error.Code ?? "rejected" });
            return;
        }

        var result = await forwarder.ForwardAsync(context, exchange);
        var status = result.Outcome == AttemptOutcome.ClientGone ? 499 : result.Error?.Status ?? context.Response.StatusCode;
        var record = UsageRecords.From(exchange, result, status);
        limiter.Settle(admission, record.PromptTokens + record.CompletionTokens, record.CostMicros);
        usage.Record(record);
    }

    private async Task RefuseAsync(HttpContext context, GatewayError error, string? key, string? model, bool streamed, long started)
    {
        await ErrorWriter.WriteAsync(context, error);
        usage.Record(UsageRecords.Refused(RequestIds.Get(context), key, model, error.Status, error.Code ?? "refused", streamed,
            clock.GetElapsedTime(started), clock.GetUtcNow()));
    }

    private static void SetRateLimitHeaders(HttpContext context, Admission admission)
    {
        var (requests, tokens) = admission.HeaderStates();
        if (requests is null && tokens is null)
        {
            return;
        }

        // OnStarting, so error answers written after Response.Clear() carry them too.
        context.Response.OnStarting(() =>
        {
            RateLimitHeaders.Apply(context.Response.Headers, requests, tokens);
            return Task.CompletedTask;
        });
    }

    private static async Task<(ChatCompletionRequest? Request, GatewayError? Error)> ReadRequestAsync(HttpContext context, GatewaySnapshot snapshot)
    {
        var limit = snapshot.Server.MaxRequestBodyBytes;
        var (buffer, length) = await RequestBodyReader.ReadAsync(context, limit);
        if (buffer is null)
        {
            return (null, GatewayError.BodyTooLarge(limit));
        }

        try
        {
            return ChatRequestReader.TryRead(buffer.AsSpan(0, length), out var request, out var error)
                ? (request, null)
                : (null, GatewayError.BadRequest(error!));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
