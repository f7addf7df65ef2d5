using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Requests;

namespace Gateway.Telemetry;

/// <summary>
/// The span of one attempt at one deployment: which provider and upstream model, how it ended,
/// and (set by the forwarder) why the next deployment was tried. Nothing of the trace is sent to
/// the provider: its transport does not propagate trace headers.
/// </summary>
internal static class AttemptSpan
{
    public static Activity? Start(ChatExchange exchange, Deployment deployment, int index)
    {
        var span = GatewayTelemetry.Source.StartActivity("attempt " + deployment.Provider.Name, ActivityKind.Client);
        if (span is not null)
        {
            span.SetTag(GatewayTelemetry.OperationName, GatewayTelemetry.Chat);
            span.SetTag(GatewayTelemetry.System, deployment.Provider.Name);
            span.SetTag("gateway.provider.kind", deployment.Provider.Translator.Kind);
            span.SetTag(GatewayTelemetry.RequestModel, exchange.PublicModel);
            span.SetTag(GatewayTelemetry.ResponseModel, deployment.Target.UpstreamModel);
            span.SetTag("gateway.deployment.index", index);
        }

        return span;
    }

    public static void End(Activity? span, AttemptResult result, int responseStatus)
    {
        if (span is null)
        {
            return;
        }

        span.SetTag("gateway.attempt.outcome", result.Outcome.ToString());
        span.SetTag(GatewayTelemetry.StatusCode, result.Error?.Status ?? responseStatus);
        if (result.Error is { } error && result.Outcome != AttemptOutcome.Succeeded)
        {
            span.SetTag(GatewayTelemetry.ErrorType, error.Code ?? error.Type);
            span.SetStatus(ActivityStatusCode.Error, error.Code);
        }
    }
}
