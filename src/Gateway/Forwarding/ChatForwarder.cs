using System.Buffers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Translators.Translation;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Forwarding;

/// <summary>
/// Sends a chat exchange to the deployments of its model, in order, through YARP's
/// <see cref="IHttpForwarder"/>. The next deployment is tried only while nothing has been sent to
/// the client, and only for failures another deployment could avoid (not the client's own).
/// </summary>
internal sealed partial class ChatForwarder(IHttpForwarder forwarder, ProviderClients clients, ILogger<ChatForwarder> logger)
{
    public async Task<AttemptResult> ForwardAsync(HttpContext context, ChatExchange exchange)
    {
        AttemptResult? last = null;
        RequestError? firstRejection = null;
        var body = new ArrayBufferWriter<byte>(4096);
        var deployments = exchange.Route.Deployments;
        for (var i = 0; i < deployments.Count; i++)
        {
            var deployment = deployments[i];
            var provider = deployment.Provider;
            body.ResetWrittenCount();
            var upstreamStream = provider.Translator.SupportsStreaming && (exchange.Request.IsStreaming || deployment.Target.StreamingOnly);
            var rejection = provider.Translator.WriteRequest(exchange.Request, deployment.Target, upstreamStream, body);
            if (rejection is not null)
            {
                // This deployment cannot honour the request as sent; a later one may.
                firstRejection ??= rejection;
                continue;
            }

            if (string.IsNullOrEmpty(provider.ApiKey))
            {
                Log.NoCredentials(logger, exchange.RequestId, provider.Name, provider.ApiKeyEnv);
                last = AttemptResult.Before(GatewayError.ProviderNotConfigured(provider.Name), retryable: true);
                continue;
            }

            exchange.ServedBy = deployment;
            exchange.Attempts++;
            last = await SendAsync(context, exchange, deployment, body, upstreamStream);
            if (last.Outcome != AttemptOutcome.FailedBeforeResponse || !last.Retryable || context.RequestAborted.IsCancellationRequested)
            {
                break;
            }

            if (i + 1 < deployments.Count)
            {
                Log.FallingBack(logger, exchange.RequestId, provider.Name, last.Error!.Code);
            }
        }

        if (last is null)
        {
            // No deployment could take the request: the client's parameters are the problem.
            last = AttemptResult.Before(GatewayError.BadRequest(firstRejection!), retryable: false);
        }

        if (last.Outcome == AttemptOutcome.FailedBeforeResponse)
        {
            await ErrorWriter.WriteAsync(context, last.Error!);
        }

        return last;
    }

    private async Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment,
        ArrayBufferWriter<byte> body, bool upstreamStream)
    {
        var provider = deployment.Provider;
        // YARP copies the upstream status onto the response before our transformer sees it, and
        // refuses to forward when the status is not 200: undo what a failed attempt left behind.
        context.Response.Clear();

        // YARP sends the request body from HttpContext.Request; give it the translated one.
        context.Request.Body = new MemoryStream(body.WrittenMemory.ToArray(), writable: false);
        context.Request.ContentLength = body.WrittenCount;

        var attempt = new UpstreamAttempt(exchange, deployment, provider.ApiKey!, body.WrittenCount, upstreamStream, logger);
        var config = new ForwarderRequestConfig { ActivityTimeout = provider.ResponseTimeout };
        var error = await forwarder.SendAsync(context, provider.BaseUrl.AbsoluteUri.TrimEnd('/'), clients.For(provider), config, attempt);
        if (attempt.Result is { } result)
        {
            return result;
        }

        if (context.RequestAborted.IsCancellationRequested || error is ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled)
        {
            return AttemptResult.Gone;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        Log.TransportFailed(logger, exception, exchange.RequestId, provider.Name, error);
        return AttemptResult.Before(error switch
        {
            ForwarderError.RequestTimedOut => GatewayError.UpstreamTimeout(provider.Name),
            _ => GatewayError.UpstreamUnreachable(provider.Name),
        }, retryable: true);
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Error, "{RequestId}: provider {Provider} has no key: environment variable {Variable} is empty")]
        public static partial void NoCredentials(ILogger logger, string requestId, string provider, string variable);

        [LoggerMessage(21, LogLevel.Warning, "{RequestId}: provider {Provider} failed ({Code}); trying the next deployment")]
        public static partial void FallingBack(ILogger logger, string requestId, string provider, string? code);

        [LoggerMessage(22, LogLevel.Warning, "{RequestId}: forwarding to provider {Provider} failed: {Error}")]
        public static partial void TransportFailed(ILogger logger, Exception? exception, string requestId, string provider, ForwarderError error);
    }
}
