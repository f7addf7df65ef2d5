using Gateway.Buffers;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Translators.Translation;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Forwarding;

/// <summary>
/// Providers that answer in the HTTP response (<see cref="IChatProvider"/>): the translated request
/// goes through YARP's <see cref="IHttpForwarder"/> with an <see cref="UpstreamAttempt"/> as transformer.
/// </summary>
internal sealed partial class HttpForwardingInvoker(IHttpForwarder forwarder, ProviderClients clients, ProviderAccounts accounts,
    ILogger<HttpForwardingInvoker> logger)
    : IDeploymentInvoker
{
    public bool CanServe(ProviderRuntime provider) => provider.Translator is IChatProvider;

    public async Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment)
    {
        var provider = deployment.Provider;
        var translator = (IChatProvider)provider.Translator;
        var upstreamStream = translator.SupportsStreaming && (exchange.Request.IsStreaming || deployment.Target.StreamingOnly);
        using var body = new PooledBufferWriter();
        if (translator.WriteRequest(exchange.Request, deployment.Target, upstreamStream, body) is { } rejection)
        {
            return AttemptResult.Reject(rejection);
        }

        // YARP copies the upstream status onto the response before our transformer sees it, and
        // refuses to forward when the status is not 200: undo what a failed attempt left behind.
        context.Response.Clear();
        DroppedParameters.Announce(context.Response, exchange, deployment);

        // YARP sends the request body from HttpContext.Request; give it the translated one.
        context.Request.Body = body.AsStream();
        context.Request.ContentLength = body.WrittenCount;

        var attempt = new UpstreamAttempt(exchange, deployment, translator, provider.ApiKey!, body.WrittenCount, upstreamStream, accounts, logger);
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
        // Without an upstream stream the response headers come only with the whole answer, whose length the client chose:
        // such a timeout is not counted against the deployment. A stream's headers come before any generation.
        return AttemptResult.Before(error switch
        {
            ForwarderError.RequestTimedOut => GatewayError.UpstreamTimeout(),
            _ => GatewayError.UpstreamUnreachable(),
        }, retryable: true) with { ShapedByRequest = error == ForwarderError.RequestTimedOut && !upstreamStream };
    }

    private static partial class Log
    {
        [LoggerMessage(22, LogLevel.Warning, "{RequestId}: forwarding to provider {Provider} failed: {Error}")]
        public static partial void TransportFailed(ILogger logger, Exception? exception, string requestId, string provider, ForwarderError error);
    }
}
