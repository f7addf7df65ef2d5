using System.Diagnostics;

namespace Gateway.Telemetry;

/// <summary>
/// Names shared by every instrument and span of the gateway. Attribute names follow the
/// OpenTelemetry GenAI semantic conventions where one fits (gen_ai.*), and are prefixed
/// <c>gateway.</c> where they are the gateway's own.
/// </summary>
internal static class GatewayTelemetry
{
    /// <summary>The meter of every gateway instrument.</summary>
    public const string MeterName = "Gateway";

    public const string ActivitySourceName = "Gateway";

    /// <summary>Spans of the request path: the request, each upstream attempt, Redis steps, the Hive V2 wait.</summary>
    public static readonly ActivitySource Source = new(ActivitySourceName);

    public const string OperationName = "gen_ai.operation.name";
    public const string System = "gen_ai.system";
    public const string RequestModel = "gen_ai.request.model";
    public const string ResponseModel = "gen_ai.response.model";
    public const string TokenType = "gen_ai.token.type";
    public const string ErrorType = "error.type";
    public const string StatusCode = "http.response.status_code";
    public const string Outcome = "gateway.outcome";
    public const string Key = "gateway.key";
    public const string Streamed = "gateway.streamed";

    /// <summary>The GenAI operation every gateway request performs.</summary>
    public const string Chat = "chat";
}
