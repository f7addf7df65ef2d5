using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Forwarding;
using Gateway.Telemetry;

namespace Gateway.RateLimiting;

/// <summary>The outcome of admission: go ahead (with the state for headers), or the error to answer.</summary>
internal sealed record Admission(LimitPlan? Plan, AdmissionResult? Result, GatewayError? Error)
{
    public static readonly Admission Unlimited = new(null, null, null);

    public bool Admitted => Error is null;

    /// <summary>The most constrained window of each kind, for the x-ratelimit headers.</summary>
    public (WindowState? Requests, WindowState? Tokens) HeaderStates()
    {
        if (Plan is null || Result is null)
        {
            return (null, null);
        }

        WindowState? requests = null, tokens = null;
        for (var i = 0; i < Plan.Windows.Count; i++)
        {
            var state = Result.Windows[i];
            if (Plan.Windows[i].Kind == LimitKind.Requests && (requests is null || state.Remaining < requests.Value.Remaining))
            {
                requests = state;
            }
            else if (Plan.Windows[i].Kind == LimitKind.Tokens && (tokens is null || state.Remaining < tokens.Value.Remaining))
            {
                tokens = state;
            }
        }

        return (requests, tokens);
    }
}

/// <summary>
/// Admits each request against its key's limits in one atomic step, reserving its worst case
/// (prompt estimate + max_tokens, and the cost of that on the dearest deployment), and settles
/// to the real usage when the answer ends. When the engine cannot decide in time, the configured
/// failure policy applies (allow by default), and the event is logged and counted.
/// </summary>
internal sealed partial class RateLimiter(ConfigStore config, ILimitEngine engine, TimeProvider clock, GatewayMetrics metrics,
    ILogger<RateLimiter> logger)
{
    private static readonly TimeSpan InFlightLease = TimeSpan.FromMinutes(10);

    public async Task<Admission> AdmitAsync(ChatExchange exchange)
    {
        var snapshot = config.Current;
        var limits = exchange.Key.Limits;
        if (limits.IsEmpty)
        {
            return Admission.Unlimited;
        }

        var settings = snapshot.Limiter;
        var completionTokens = exchange.Request.EffectiveMaxTokens ?? settings.DefaultMaxTokens;
        var prompt = exchange.EstimatedPromptTokens;
        var worstCost = exchange.Route.Deployments.Select(d => d.Price.CostMicros(prompt, completionTokens)).DefaultIfEmpty(0).Max();
        var plan = LimitPlan.Build(exchange.RequestId, exchange.Key.Name, limits, exchange.Route.Name, prompt + completionTokens,
            worstCost, settings, InFlightLease);
        if (plan.IsEmpty)
        {
            return Admission.Unlimited;
        }

        AdmissionResult result;
        using var span = GatewayTelemetry.Source.StartActivity("ratelimit.admit");
        try
        {
            var decision = engine.AdmitAsync(plan);
            // The in-memory engine answers at once; only a pending (Redis) answer needs a timeout.
            result = decision.IsCompleted ? await decision : await decision.WaitAsync(settings.DecisionTimeout, clock);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Record("unavailable");
            span?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            Log.EngineFailed(logger, $"{ex.GetType().Name}: {ex.Message}", exchange.RequestId, settings.FailOpen ? "allowing" : "refusing");
            return settings.FailOpen ? Admission.Unlimited : new Admission(null, null, LimiterUnavailable());
        }

        span?.SetTag("gateway.decision", result.Admitted ? "admitted" : plan.KindOf(result.RejectedIndex).ToString().ToLowerInvariant());
        if (result.Admitted)
        {
            Record("admitted");
            return new Admission(plan, result, null);
        }

        var kind = plan.KindOf(result.RejectedIndex);
        Record("rejected_" + kind.ToString().ToLowerInvariant());
        return new Admission(plan, result, Rejection(kind, plan, result, exchange.Key.Name));
    }

    /// <summary>Books what the request really used; runs after the answer, off the request's path.</summary>
    public void Settle(Admission admission, long actualTokens, long actualCostMicros)
    {
        if (admission.Plan is not { } plan || admission.Result is not { Admitted: true } result)
        {
            return;
        }

        _ = SettleAsync(plan, result, actualTokens, actualCostMicros);
    }

    private async Task SettleAsync(LimitPlan plan, AdmissionResult result, long actualTokens, long actualCostMicros)
    {
        using var span = GatewayTelemetry.Source.StartActivity("ratelimit.settle");
        try
        {
            await engine.SettleAsync(plan, result, actualTokens, actualCostMicros).WaitAsync(TimeSpan.FromSeconds(5), clock);
        }
        catch (Exception ex)
        {
            // Reservations then age out with their window; in-flight leases expire.
            span?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            Log.SettleFailed(logger, $"{ex.GetType().Name}: {ex.Message}", plan.RequestId);
        }
    }

    private void Record(string decision) => metrics.Decision(decision);

    private static GatewayError Rejection(LimitKind kind, LimitPlan plan, AdmissionResult result, string key)
    {
        var retry = result.RetryAfter;
        var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
        var error = kind switch
        {
            LimitKind.Requests => new GatewayError(429, "requests",
                $"Rate limit reached for requests on key '{key}' (limit {plan.Windows[result.RejectedIndex].Limit} per window). Retry in {seconds}s.",
                Code: "rate_limit_exceeded"),
            LimitKind.Tokens => new GatewayError(429, "tokens",
                $"Rate limit reached for tokens on key '{key}' (limit {plan.Windows[result.RejectedIndex].Limit} per window, this request reserves {plan.Windows[result.RejectedIndex].Cost}). Retry in {seconds}s.",
                Code: "rate_limit_exceeded"),
            LimitKind.Concurrency => new GatewayError(429, "requests",
                $"Too many concurrent requests on key '{key}' (limit {plan.Concurrency[result.RejectedIndex - plan.Windows.Count].Limit}).",
                Code: "rate_limit_exceeded"),
            _ => new GatewayError(429, "insufficient_quota",
                $"The spending budget of key '{key}' for this {(plan.Budget!.Period == BudgetPeriod.Day ? "day" : "month")} is exhausted.",
                Code: "insufficient_quota"),
        };
        return error with { RetryAfter = retry };
    }

    private static GatewayError LimiterUnavailable() => new(503, "server_error",
        "Rate limits cannot be checked right now; retry shortly.", Code: "rate_limiter_unavailable") { RetryAfter = TimeSpan.FromSeconds(1) };

    private static partial class Log
    {
        [LoggerMessage(80, LogLevel.Warning, "Rate limiter could not decide ({Reason}) for {RequestId}; {Policy} the request")]
        public static partial void EngineFailed(ILogger logger, string reason, string requestId, string policy);

        [LoggerMessage(81, LogLevel.Warning, "Settling the rate-limit reservation of {RequestId} failed ({Reason})")]
        public static partial void SettleFailed(ILogger logger, string reason, string requestId);
    }
}
