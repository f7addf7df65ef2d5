using Gateway.Configuration;

namespace Gateway.Forwarding;

/// <summary>Sends one exchange to one deployment, by whatever protocol its provider speaks.</summary>
internal interface IDeploymentInvoker
{
    bool CanServe(ProviderRuntime provider);

    Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment);
}
