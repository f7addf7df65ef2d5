using System.Diagnostics;
using System.Globalization;
using Gateway.Requests;

namespace Gateway.Telemetry;

/// <summary>
/// What one chat completion request leaves behind for operators: a span with the GenAI attributes,
/// the metrics, and one access-log line. Everything is read from the request's usage record, so
/// the three always agree with what was metered. Prompt and completion text are never recorded.
/// </summary>
internal sealed partial class RequestTelemetry(GatewayMetrics metrics, ILoggerFactory loggers)
{
    /// <summary>The access log's category: <c>Logging:LogLevel:Gateway.AccessLog</c> turns it down or off.</summary>
    public const string AccessLogCategory = "Gateway.AccessLog";

    private readonly ILogger _accessLog = loggers.CreateLogger(AccessLogCategory);

    /// <summary>Opens the request's span (a child of the incoming <c>traceparent</c>, if any); null when nobody traces.</summary>
    public static Activity? Start() => GatewayTelemetry.Source.StartActivity(GatewayTelemetry.Chat, ActivityKind.Internal);

    /// <summary>Names the span after the model once the body has been read, as the GenAI conventions do (<c>chat {model}</c>).</summary>
    public static void ModelKnown(Activity? span, string model)
    {
        if (span is not null)
        {
            span.DisplayName = GatewayTelemetry.Chat + " " + model;
        }
    }

    /// <param name="anonymous">A request without a valid key: logged at Debug only, since strangers could flood the log.</param>
    public void Completed(UsageRecord record, Activity? span, bool anonymous = false)
    {
        metrics.RequestCompleted(record);
        if (span is not null)
        {
            Describe(span, record);
        }

        var level = anonymous ? LogLevel.Debug : LogLevel.Information;
        if (_accessLog.IsEnabled(level))
        {
#pragma warning disable CA1873 // Guarded above; the analyzer does not follow a level held in a variable.
            Log.Access(_accessLog, level, record.RequestId, record.Key, record.Model, record.Provider ?? "-", record.Status, record.Outcome,
                record.PromptTokens, record.CompletionTokens, record.Estimated ? " (estimated)" : "", Money.Usd(record.CostMicros),
                Math.Round(record.LatencyMs, 1),
                record.TimeToFirstTokenMs is { } t ? Math.Round(t, 1).ToString(CultureInfo.InvariantCulture) + "ms" : "-", record.Streamed);
#pragma warning restore CA1873
        }
    }

    private void Describe(Activity span, UsageRecord r)
    {
        span.SetTag(GatewayTelemetry.OperationName, GatewayTelemetry.Chat);
        span.SetTag(GatewayTelemetry.RequestModel, r.Model);
        span.SetTag(GatewayTelemetry.System, r.Provider);
        span.SetTag(GatewayTelemetry.ResponseModel, r.UpstreamModel);
        span.SetTag("gen_ai.usage.input_tokens", r.PromptTokens);
        span.SetTag("gen_ai.usage.output_tokens", r.CompletionTokens);
        span.SetTag("gateway.usage.estimated", r.Estimated);
        span.SetTag("gateway.cost.micro_usd", r.CostMicros);
        span.SetTag("gateway.request_id", r.RequestId);
        span.SetTag(GatewayTelemetry.StatusCode, r.Status);
        span.SetTag(GatewayTelemetry.Outcome, r.Outcome);
        span.SetTag(GatewayTelemetry.Streamed, r.Streamed);
        if (metrics.KeyNames)
        {
            span.SetTag(GatewayTelemetry.Key, r.Key);
        }

        if (r.Failed)
        {
            span.SetTag(GatewayTelemetry.ErrorType, r.Outcome);
            span.SetStatus(ActivityStatusCode.Error, r.Outcome);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 100, Message =
            "{RequestId} key={Key} model={Model} provider={Provider} status={Status} outcome={Outcome} tokens={PromptTokens}+{CompletionTokens}{Estimated} cost={CostUsd} latency={LatencyMs}ms ttft={Ttft} streamed={Streamed}")]
        public static partial void Access(ILogger logger, LogLevel level, string requestId, string key, string model, string provider, int status, string outcome,
            int promptTokens, int completionTokens, string estimated, string costUsd, double latencyMs, string ttft, bool streamed);
    }
}
