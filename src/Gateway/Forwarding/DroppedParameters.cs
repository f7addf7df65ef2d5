using Gateway.Configuration;
using Gateway.Requests;

namespace Gateway.Forwarding;

/// <summary>
/// <c>x-gateway-dropped-parameters</c>: what the client sent that the answering deployment left out by the operator's
/// decision (e.g. <c>max_tokens</c> at a provider that documents no cap), so a client can tell its cap or sampling
/// setting was not applied. Set for the attempt that is about to answer (a later attempt replaces it), absent when
/// nothing was dropped.
/// </summary>
internal static class DroppedParameters
{
    public const string Header = "x-gateway-dropped-parameters";

    public static void Announce(HttpResponse response, ChatExchange exchange, Deployment deployment)
    {
        var dropped = deployment.Provider.Translator.DroppedParameters(exchange.Request, deployment.Target);
        if (dropped.Count == 0)
        {
            response.Headers.Remove(Header);
            return;
        }

        response.Headers[Header] = string.Join(", ", dropped);
    }
}
