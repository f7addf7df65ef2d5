using Gateway.Configuration;
using Gateway.Requests;
using Gateway.Translators.Contract;

namespace Gateway.Tests.Infrastructure;

/// <summary>Exchanges for tests that drive one piece of the request path directly: no deadline, never stopped.</summary>
internal static class Exchanges
{
    public static ChatExchange New(string requestId, ClientKey key, ChatCompletionRequest request, ModelRoute route) =>
        new(requestId, key, request, route, RoutingSettings.Default, RequestDeadline.None(TimeProvider.System),
            new RequestStop(CancellationToken.None, CancellationToken.None, CancellationToken.None), TimeProvider.System);
}
