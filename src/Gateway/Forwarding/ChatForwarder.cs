using Gateway.Configuration;
using System.Runtime.CompilerServices;
using Gateway.Errors;
using Gateway.RateLimiting;
using Gateway.Requests;
using Gateway.Routing;
using Gateway.Telemetry;
using Polly;

namespace Gateway.Forwarding;

/// <summary>
/// Sends a chat exchange to the deployments of its model, in the order the model's routing strategy gives, leaving out
/// deployments whose circuit is open. At one deployment, transient failures are retried (Polly, jittered backoff, within
/// the request's deadline); then the next deployment is tried, only while nothing has been sent to the client, and only
/// for failures another deployment could avoid (not the client's own).
/// </summary>
internal sealed partial class ChatForwarder(
    IEnumerable<IDeploymentInvoker> invokers,
    ProviderPacer pacer,
    RoutePlanner planner,
    DeploymentHealthRegistry health,
    ICircuitShare circuits,
    RetryPipelines retries,
    GatewayMetrics metrics,
    TimeProvider clock,
    ILogger<ChatForwarder> logger)
{
    private readonly IDeploymentInvoker[] _invokers = [.. invokers];

    // Which protocol serves a provider is fixed by its compiled configuration: chosen once per compiled provider, not per attempt.
    private readonly ConditionalWeakTable<ProviderRuntime, IDeploymentInvoker> _invokerOf = new();

    /// <param name="recorder">Keeps what the client is sent, for the response cache (null when the answer is not cacheable).</param>
    /// <returns>How the request ended, what the answering attempt produced, and what every attempt was charged.</returns>
    public async Task<AttemptResult> ForwardAsync(HttpContext context, ChatExchange exchange, IAnswerRecorder? recorder)
    {
        var spent = new Charges();
        var result = await ForwardAsync(context, exchange, recorder, spent);
        return result with { ProviderCostMicros = spent.Micros };
    }

    private async Task<AttemptResult> ForwardAsync(HttpContext context, ChatExchange exchange, IAnswerRecorder? recorder, Charges spent)
    {
        var stop = exchange.Stop.Token;
        AttemptResult? last = null;
        AttemptResult? firstRejection = null;
        var rejections = 0;
        var plan = planner.Plan(exchange.Route, exchange.Routing);
        if (plan.Panic)
        {
            Log.AllCircuitsOpen(logger, exchange.RequestId, exchange.Route.Name);
        }

        foreach (var skipped in plan.Skipped)
        {
            metrics.CircuitSkipped(skipped.Id);
        }

        var deployments = plan.Deployments;
        for (var i = 0; i < deployments.Count; i++)
        {
            var deployment = deployments[i];
            var provider = deployment.Provider;
            if (string.IsNullOrEmpty(provider.ApiKey))
            {
                Log.NoCredentials(logger, exchange.RequestId, provider.Name, provider.ApiKeyEnv);
                last = AttemptResult.Before(GatewayError.ProviderNotConfigured(), retryable: true);
                metrics.UpstreamError(provider.Name, last.Error!.Code!);
                continue;
            }

            var circuit = health.For(deployment).Circuit;
            if (!circuit.TryEnter(clock.GetUtcNow(), out var probe) && !plan.Panic)
            {
                // Opened (or another request is probing) since the plan was made.
                metrics.CircuitSkipped(deployment.Id);
                continue;
            }

            var result = await TryDeploymentAsync(new AttemptCall(this, context, exchange, deployment, i, recorder, spent));
            ReportToCircuit(circuit, deployment, probe, result, exchange);
            if (result.Outcome == AttemptOutcome.Rejected)
            {
                // This deployment cannot honour the request as sent (nothing was sent, its circuit is not touched); a later one may.
                Log.Skipped(logger, exchange.RequestId, deployment.Id, result.Error!.Message);
                firstRejection ??= result;
                rejections++;
                continue;
            }

            last = result;
            if (result.Outcome != AttemptOutcome.FailedBeforeResponse || !result.Retryable || stop.IsCancellationRequested)
            {
                break;
            }

            if (i + 1 < deployments.Count)
            {
                Log.FallingBack(logger, exchange.RequestId, provider.Name, deployment.Target.UpstreamModel, result.Error!.Code);
                metrics.Fallback(exchange.Route.Name, provider.Name, result.Error.Code);
            }
        }

        if (stop.IsCancellationRequested && !context.Response.HasStarted)
        {
            // The client left, the deadline passed or the replica is stopping: the endpoint knows which and answers.
            return AttemptResult.Gone.Carrying(last);
        }

        // When no deployment could take the request, the client's parameters are the problem (a 400 naming them); when one
        // failed and the others could not take it, the client is told both.
        last = Explain(last, firstRejection, rejections, deployments.Count, exchange.Route.Name)
            ?? AttemptResult.Before(GatewayError.NoDeploymentAvailable(), retryable: true);
        if (last.Outcome is AttemptOutcome.FailedBeforeResponse or AttemptOutcome.Rejected)
        {
            await ErrorWriter.WriteAsync(context, last.Error!);
        }

        return last;
    }

    private static AttemptResult? Explain(AttemptResult? last, AttemptResult? firstRejection, int rejections, int deployments, string model)
    {
        if (firstRejection is null)
        {
            return last;
        }

        if (last is null)
        {
            return rejections > 1 || deployments > 1
                ? firstRejection with { Error = firstRejection.Error! with { Message = $"No deployment of model '{model}' accepts this request: {firstRejection.Error.Message}" } }
                : firstRejection;
        }

        return last.Outcome == AttemptOutcome.FailedBeforeResponse
            ? last with { Error = last.Error! with { Message = $"{last.Error.Message} The model's other deployments cannot take this request: {firstRejection.Error!.Message}" } }
            : last;
    }

    /// <summary>One deployment, with retries at it for failures that may pass (<see cref="RetryDecision"/>).</summary>
    private async Task<AttemptResult> TryDeploymentAsync(AttemptCall call)
    {
        var resilience = ResilienceContextPool.Shared.Get(call.Exchange.Stop.Token);
        resilience.Properties.Set(RetryPipelines.Exchange, call.Exchange);
        resilience.Properties.Set(RetryPipelines.Provider, call.Deployment.Provider.Name);
        try
        {
            return await retries.For(call.Exchange.Routing).ExecuteAsync(
                static (_, call) => new ValueTask<AttemptResult>(call.Forwarder.AttemptAsync(call)), resilience, call);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(resilience);
        }
    }

    /// <summary>One attempt at one deployment: paced, traced, counted in flight, and its latency observed when it succeeds.</summary>
    private async Task<AttemptResult> AttemptAsync(AttemptCall call)
    {
        var (_, context, exchange, deployment, index, recorder, spent) = call;
        var provider = deployment.Provider;
        var invoker = _invokerOf.GetValue(provider, p => Array.Find(_invokers, x => x.CanServe(p))!);
        var deploymentHealth = health.For(deployment);
        using var span = AttemptSpan.Start(exchange, deployment, index);
        var started = clock.GetTimestamp();
        AttemptResult result;
        deploymentHealth.Enter();
        try
        {
            var paced = await pacer.WaitTurnAsync(provider, exchange.Stop.Token);
            result = paced is null
                ? await invoker.SendAsync(context, exchange, deployment, recorder)
                : AttemptResult.Before(paced, retryable: true);
            spent.Add(result.ProviderCostMicros);
        }
        finally
        {
            deploymentHealth.Exit();
        }

        AttemptSpan.End(span, result, context.Response.StatusCode);
        metrics.Attempt(provider.Name, deployment.Id, OutcomeName(result.Outcome));
        switch (result.Outcome)
        {
            case AttemptOutcome.Succeeded:
                deploymentHealth.ObserveLatency(clock.GetElapsedTime(started,
                    result.Answer?.FirstTokenAt is { } first && first > started ? first : clock.GetTimestamp()));
                break;
            case AttemptOutcome.FailedBeforeResponse or AttemptOutcome.FailedDuringResponse:
                metrics.UpstreamError(provider.Name, result.Error!.Code ?? result.Error.Type);
                span?.SetTag("gateway.fallback.reason", result.Error.Code);
                break;
        }

        return result;
    }

    private void ReportToCircuit(CircuitBreaker circuit, Deployment deployment, bool probe, AttemptResult result, ChatExchange exchange)
    {
        var settings = exchange.Routing;
        if (!settings.CircuitBreaking)
        {
            return;
        }

        CircuitChange? change = result.Outcome == AttemptOutcome.Succeeded ? circuit.OnSuccess(probe)
            : result.IsDeploymentFault ? circuit.OnFailure(probe, clock.GetUtcNow(), settings, exchange.Key.Id)
            : null;
        if (result.Outcome != AttemptOutcome.Succeeded && !result.IsDeploymentFault)
        {
            circuit.OnNeutral(probe);
        }

        if (change is not { } c)
        {
            return;
        }

        if (c.Opened)
        {
            Log.CircuitOpened(logger, deployment.Id, (long)c.BreakFor.TotalSeconds, result.Error?.Code);
        }
        else
        {
            Log.CircuitClosed(logger, deployment.Id);
        }

        metrics.CircuitChanged(deployment.Id, c.Opened);
        circuits.Announce(deployment.Id, c);
    }

    /// <summary>One attempt's inputs, passed through the retry pipeline without a closure.</summary>
    private sealed record AttemptCall(ChatForwarder Forwarder, HttpContext Context, ChatExchange Exchange, Deployment Deployment, int Index,
        IAnswerRecorder? Recorder, Charges Spent);

    /// <summary>What the providers charged over every attempt of one request (retries and fallbacks included).</summary>
    private sealed class Charges
    {
        public long? Micros { get; private set; }

        public void Add(long? micros)
        {
            if (micros is { } m)
            {
                Micros = (Micros ?? 0) + m;
            }
        }
    }

    private static string OutcomeName(AttemptOutcome outcome) => outcome switch
    {
        AttemptOutcome.Succeeded => "succeeded",
        AttemptOutcome.Rejected => "rejected",
        AttemptOutcome.ClientGone => "client_gone",
        _ => "failed",
    };

    private static partial class Log
    {
        [LoggerMessage(27, LogLevel.Information, "{RequestId}: deployment {Deployment} cannot take the request as sent ({Reason}); it is skipped for this request")]
        public static partial void Skipped(ILogger logger, string requestId, string deployment, string reason);

        [LoggerMessage(20, LogLevel.Error, "{RequestId}: provider {Provider} has no key: environment variable {Variable} is empty")]
        public static partial void NoCredentials(ILogger logger, string requestId, string provider, string variable);

        [LoggerMessage(21, LogLevel.Warning, "{RequestId}: provider {Provider} failed for {UpstreamModel} ({Code}); trying the next deployment")]
        public static partial void FallingBack(ILogger logger, string requestId, string provider, string upstreamModel, string? code);

        [LoggerMessage(24, LogLevel.Warning, "Circuit of deployment {Deployment} opened for {Seconds} s after repeated failures (last: {Code}); it is skipped until a probe succeeds")]
        public static partial void CircuitOpened(ILogger logger, string deployment, long seconds, string? code);

        [LoggerMessage(25, LogLevel.Information, "Circuit of deployment {Deployment} closed: a probe succeeded")]
        public static partial void CircuitClosed(ILogger logger, string deployment);

        [LoggerMessage(26, LogLevel.Warning, "{RequestId}: every deployment of {Model} has an open circuit; trying them anyway")]
        public static partial void AllCircuitsOpen(ILogger logger, string requestId, string model);
    }
}
