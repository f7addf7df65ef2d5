using Gateway.Configuration;
using Gateway.Requests;

namespace Gateway.Forwarding;

/// <summary>Sends one exchange to one deployment, by whatever protocol its provider speaks.</summary>
internal interface IDeploymentInvoker
{
    bool CanServe(ProviderRuntime provider);

    /// <param name="recorder">Keeps what the client is sent, for the response cache (null when the answer is not cacheable).</param>
    /// <returns>How the attempt ended; its <see cref="AttemptResult.Answer"/> is what it produced, once it reached the deployment.</returns>
    Task<AttemptResult> SendAsync(HttpContext context, ChatExchange exchange, Deployment deployment, IAnswerRecorder? recorder);
}
