namespace Gateway.Requests;

/// <summary>Paths the gateway answers on that more than one concern must know (routing, tracing).</summary>
internal static class GatewayPaths
{
    /// <summary>Where async-task providers call back; the rest of the path is a signed token, never logged or traced.</summary>
    public const string TaskCallbacks = "/callbacks/tasks/";
}
