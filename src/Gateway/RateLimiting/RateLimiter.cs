using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Telemetry;
using Gateway.Requests;
using Gateway.Translators.Contract;

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
/// Admits each request against its key's limits in one atomic step, reserving what it can really spend
/// (<see cref="ReservationSize"/>), and settles to the real usage when the answer ends, exactly once
/// (<see cref="SettlementQueue"/>). When the engine cannot decide in time, the admission is cancelled (so a late
/// decision takes nothing) and the failure policy of the kind of limit applies: rates fail open, budgets closed,
/// by default. Every such event is logged and counted.
/// </summary>
internal sealed partial class RateLimiter(ConfigStore config, ILimitEngine engine, SettlementQueue settlements, LeaseRenewer leases,
    TimeProvider clock, GatewayMetrics metrics, ILogger<RateLimiter> logger)
{
    /// <summary>
    /// The request as it will really be sent: a key whose tokens or money are limited gets the default completion limit
    /// (<c>Limits:DefaultMaxTokens</c>) when it set none, so what admission reserves is what the provider may produce.
    /// The one rewrite of a request, an explicit step of the endpoint before the exchange exists: a cache entry is always
    /// keyed on what went upstream, so a capped key's cut answer is never served to an uncapped key, nor the other way round.
    /// </summary>
    public static ChatCompletionRequest CapMaxTokens(ChatCompletionRequest request, ClientKey key, ModelRoute route, LimiterSettings settings)
    {
        var limits = key.Limits;
        if (settings.CapMaxTokens && !limits.IsEmpty && request.EffectiveMaxTokens is null && limits.LimitsTokensOrMoney(route.Name))
        {
            request.CapMaxTokens(settings.DefaultMaxTokens);
        }

        return request;
    }

    /// <param name="exchange">The request.</param>
    /// <param name="cacheHit">The answer comes from the response cache: only request rates and concurrency apply.</param>
    public async Task<Admission> AdmitAsync(ChatExchange exchange, bool cacheHit = false)
    {
        var snapshot = config.Current;
        var limits = exchange.Key.Limits;
        if (limits.IsEmpty)
        {
            return Admission.Unlimited;
        }

        var settings = snapshot.Limiter;
        var size = cacheHit ? default : ReservationSize.Of(exchange, settings);
        // A hit may be admitted after the same request was refused as a miss: its own reservation id keeps the two apart.
        var reservationId = cacheHit ? exchange.RecordId + ".hit" : exchange.RecordId;
        // Should this replica die mid-request, a survivor records the request at what was reserved for it (the recovery record).
        var plan = LimitPlan.Build(reservationId, exchange.Key.Id, limits, exchange.Route.Name, size.Tokens, size.WorstCostMicros,
            settings, ReservationSize.LeaseFor(exchange.Route, settings.LeaseMargin),
            new LostRecord(exchange.RecordId, exchange.RequestId, exchange.Key.Name, exchange.Route.Name, size.PromptTokens,
                size.CompletionTokens, size.WorstCostMicros, exchange.Request.IsStreaming)
            {
                KeyId = limits.Team is null ? null : exchange.Key.Id,
                Team = limits.Team?.Name,
            });
        if (cacheHit)
        {
            plan = plan.ForCacheHit();
        }

        if (plan.IsEmpty)
        {
            return Admission.Unlimited;
        }

        if (!cacheHit && size.NeverFits(plan, exchange.Key.Name, exchange.Request.MaxTokensParam) is { } impossible)
        {
            Record("rejected_too_large");
            return new Admission(null, null, impossible);
        }

        using var span = GatewayTelemetry.Source.StartActivity("ratelimit.admit");
        AdmissionResult result;
        for (var attempt = 1; ; attempt++)
        {
            var (decided, failure) = await DecideAsync(plan, settings);
            if (failure is null)
            {
                result = decided!;
                break;
            }

            // The engine may still run this admission later (Redis stalled, not gone): cancel it, so it takes nothing.
            settlements.Enqueue(Settlement.For(plan, 0, 0, cancel: true));
            span?.SetStatus(ActivityStatusCode.Error, failure);
            if (attempt >= settings.DecisionAttempts)
            {
                return Unavailable(plan, settings, exchange.RequestId, failure, attempt);
            }

            // A stall of a few hundred milliseconds (a busy host, a GC pause, a replica compiling at start-up) should not
            // refuse a request outright: ask once more under a new reservation id, so the cancellation of the first
            // attempt can never touch the second.
            Log.DecisionRetried(logger, failure, exchange.RequestId, attempt);
            plan = plan with { ReservationId = $"{exchange.RecordId}.{attempt + 1}" };
        }

        span?.SetTag("gateway.decision", result.Admitted ? "admitted" : plan.KindOf(result.RejectedIndex).ToString().ToLowerInvariant());
        if (result.Admitted)
        {
            Record("admitted");
            leases.Track(plan);
            return new Admission(plan, result, null);
        }

        var kind = plan.KindOf(result.RejectedIndex);
        Record("rejected_" + kind.ToString().ToLowerInvariant());
        return new Admission(plan, result, Rejection(kind, plan, result, exchange.Key.Name));
    }

    /// <summary>
    /// Before the replica takes traffic: real admissions through the engine (a requests window no request can fill, on a
    /// scope of its own), until one is decided within <see cref="LimiterSettings.DecisionTimeout"/> as this replica sees
    /// it, or <paramref name="patience"/> is over. It warms the whole decision path (connection, script, clock offset, the
    /// code itself) so the replica's first budgeted request is not the one that pays for it. True when one fitted.
    /// </summary>
    public async Task<bool> ProbeAsync(TimeSpan patience, CancellationToken cancellationToken)
    {
        var probe = new KeyLimits(new LimitSet(long.MaxValue / 4, null, null), null, new Dictionary<string, LimitSet>());
        var until = clock.GetUtcNow() + patience;
        for (var attempt = 1; ; attempt++)
        {
            var settings = config.Current.Limiter;
            var plan = LimitPlan.Build($"readiness-{Guid.NewGuid():N}", "readiness-probe", probe, "", 0, 0, settings, TimeSpan.FromSeconds(5));
            var started = clock.GetTimestamp();
            var (decided, _) = await DecideAsync(plan, settings);
            var took = clock.GetElapsedTime(started);
            // Whatever happened, the probe holds nothing.
            settlements.Enqueue(Settlement.For(plan, 0, 0, cancel: true));
            if (decided is not null && took <= settings.DecisionTimeout)
            {
                Log.ProbeDecided(logger, (long)took.TotalMilliseconds, attempt);
                return true;
            }

            if (clock.GetUtcNow() >= until || cancellationToken.IsCancellationRequested)
            {
                Log.ProbeGaveUp(logger, attempt, (long)settings.DecisionTimeout.TotalMilliseconds);
                return false;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), clock, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>Books what the request really used, exactly once, off the request's path.</summary>
    public void Settle(Admission admission, long actualTokens, long actualCostMicros)
    {
        if (admission.Plan is not { } plan || admission.Result is not { Admitted: true })
        {
            return;
        }

        leases.Untrack(plan);
        settlements.Enqueue(Settlement.For(plan, actualTokens, actualCostMicros));
    }

    /// <summary>One admission attempt: the engine's result, or why it could not decide in time.</summary>
    private async Task<(AdmissionResult? Result, string? Failure)> DecideAsync(LimitPlan plan, LimiterSettings settings)
    {
        var giveUpAt = clock.GetUtcNow() + settings.DecisionTimeout;
        AdmissionResult result;
        try
        {
            var decision = engine.AdmitAsync(plan, giveUpAt);
            // The in-memory engine answers at once; only a pending (Redis) answer needs a timeout. Redis refuses to decide past
            // giveUpAt by its own clock, so the wait here is longer: CPU pressure on this replica must not turn a decision
            // Redis made in time into a refusal.
            result = decision.IsCompleted ? await decision : await decision.WaitAsync(settings.LocalPatience, clock);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return (null, $"{ex.GetType().Name}: {ex.Message}");
        }

        // The engine saw the decision too late by its own clock: nothing was taken, but nothing was decided either.
        return result.RejectedIndex is AdmissionResult.PastDeadline or AdmissionResult.Cancelled
            ? (null, "decided past its deadline")
            : (result, null);
    }

    private Admission Unavailable(LimitPlan plan, LimiterSettings settings, string requestId, string reason, int attempts)
    {
        Record("unavailable");
        var budgeted = plan.Budgets.Count > 0;
        var failOpen = budgeted ? settings.BudgetFailOpen : settings.FailOpen;
        Log.EngineFailed(logger, reason, attempts, requestId, failOpen ? "allowing" : "refusing");
        return failOpen ? Admission.Unlimited : new Admission(null, null, LimiterUnavailable(budgeted));
    }

    private void Record(string decision) => metrics.Decision(decision);

    private static GatewayError Rejection(LimitKind kind, LimitPlan plan, AdmissionResult result, string key)
    {
        var retry = result.RetryAfter;
        var seconds = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds));
        var index = result.RejectedIndex;
        // A team's limit is named as the team's, so the holder of one key knows its colleagues spent it.
        var holder = plan.TeamOf(index) is { } team ? $"team '{team}' (key '{key}')" : $"key '{key}'";
        var error = kind switch
        {
            LimitKind.Requests => new GatewayError(429, "requests",
                $"Rate limit reached for requests on {holder} (limit {plan.Windows[index].Limit} per window). Retry in {seconds}s.",
                Code: "rate_limit_exceeded"),
            LimitKind.Tokens => new GatewayError(429, "tokens",
                $"Rate limit reached for tokens on {holder} (limit {plan.Windows[index].Limit} per window, this request reserves {plan.Windows[index].Cost}). Retry in {seconds}s.",
                Code: "rate_limit_exceeded"),
            LimitKind.Concurrency => new GatewayError(429, "requests",
                $"Too many concurrent requests on {holder} (limit {plan.Concurrency[index - plan.Windows.Count].Limit}).",
                Code: "rate_limit_exceeded"),
            _ => new GatewayError(429, "insufficient_quota",
                $"The spending budget of {holder} for this {(plan.Budgets[index - plan.Windows.Count - plan.Concurrency.Count].Period == BudgetPeriod.Day ? "day" : "month")} is exhausted.",
                Code: "insufficient_quota"),
        };
        return error with { RetryAfter = retry };
    }

    private static GatewayError LimiterUnavailable(bool budget) => budget
        ? new(503, "server_error", "The spending budget cannot be checked right now; retry shortly.", Code: "budget_unavailable")
            { RetryAfter = TimeSpan.FromSeconds(1) }
        : new(503, "server_error", "Rate limits cannot be checked right now; retry shortly.", Code: "rate_limiter_unavailable")
            { RetryAfter = TimeSpan.FromSeconds(1) };

    private static partial class Log
    {
        [LoggerMessage(140, LogLevel.Information, "An admission was decided in {Milliseconds} ms (probe {Attempt}): limits are ready")]
        public static partial void ProbeDecided(ILogger logger, long milliseconds, int attempt);

        [LoggerMessage(141, LogLevel.Warning, "No admission was decided within {Timeout} ms in {Attempts} probes; taking traffic anyway (limits fall back as configured while Redis is slow)")]
        public static partial void ProbeGaveUp(ILogger logger, int attempts, long timeout);

        [LoggerMessage(80, LogLevel.Warning, "Rate limiter could not decide ({Reason}, {Attempts} attempts) for {RequestId}; {Policy} the request")]
        public static partial void EngineFailed(ILogger logger, string reason, int attempts, string requestId, string policy);

        [LoggerMessage(81, LogLevel.Warning, "Rate limiter could not decide ({Reason}) for {RequestId} at attempt {Attempt}; asking again")]
        public static partial void DecisionRetried(ILogger logger, string reason, string requestId, int attempt);

    }
}
