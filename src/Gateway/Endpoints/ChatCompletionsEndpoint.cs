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
/// model, forward, meter. Every refusal is an OpenAI error.
/// </summary>
internal sealed class ChatCompletionsEndpoint(ConfigStore config, ChatForwarder forwarder, RateLimiter limiter, IUsageSink usage, TimeProvider clock)
{
    public async Task HandleAsync(HttpContext context)
    {
        var snapshot = config.Current;
        var key = ClientKeyAuthenticator.Authenticate(context.Request, snapshot, out var authError);
        if (key is null)
        {
            await ErrorWriter.WriteAsync(context, authError!);
            return;
        }

        var request = await ReadRequestAsync(context, snapshot);
        if (request is null)
        {
            return;
        }

        var route = snapshot.FindModel(request.Model!, key);
        if (route is null)
        {
            await ErrorWriter.WriteAsync(context, GatewayError.ModelNotFound(request.Model!));
            return;
        }

        var exchange = new ChatExchange(RequestIds.Get(context), key, request, route, clock);
        var admission = await limiter.AdmitAsync(exchange);
        SetRateLimitHeaders(context, admission);
        if (!admission.Admitted)
        {
            await ErrorWriter.WriteAsync(context, admission.Error!);
            return;
        }

        var result = await forwarder.ForwardAsync(context, exchange);
        var status = result.Outcome == AttemptOutcome.ClientGone ? 499 : result.Error?.Status ?? context.Response.StatusCode;
        var record = UsageRecords.From(exchange, result, status);
        limiter.Settle(admission, record.PromptTokens + record.CompletionTokens, record.CostMicros);
        usage.Record(record);
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

    private static async Task<ChatCompletionRequest?> ReadRequestAsync(HttpContext context, GatewaySnapshot snapshot)
    {
        var limit = snapshot.Server.MaxRequestBodyBytes;
        var (buffer, length) = await RequestBodyReader.ReadAsync(context, limit);
        if (buffer is null)
        {
            await ErrorWriter.WriteAsync(context, GatewayError.BodyTooLarge(limit));
            return null;
        }

        try
        {
            if (!ChatRequestReader.TryRead(buffer.AsSpan(0, length), out var request, out var error))
            {
                await ErrorWriter.WriteAsync(context, GatewayError.BadRequest(error!));
                return null;
            }

            return request;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
