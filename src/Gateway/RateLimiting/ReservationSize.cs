using Gateway.Configuration;
using Gateway.Errors;
using Gateway.Requests;

namespace Gateway.RateLimiting;

/// <summary>
/// What a request can really spend, decided before admission, in 64-bit arithmetic: its prompt estimate plus
/// <c>n</c> completions of <c>max_tokens</c> (clamped to the largest ceiling its deployments document, or
/// <c>Limits:DefaultMaxTokens</c> when the client set none), and the cost of that on the dearest deployment.
/// </summary>
internal readonly record struct ReservationSize(long PromptTokens, long CompletionTokens, long WorstCostMicros)
{
    public long Tokens => checked(PromptTokens + CompletionTokens);

    public static ReservationSize Of(ChatExchange exchange, LimiterSettings settings)
    {
        var request = exchange.Request;
        var deployments = exchange.Route.Deployments;
        long perChoice = request.EffectiveMaxTokens ?? settings.DefaultMaxTokens;
        // No deployment can produce more than its provider's ceiling; one without a documented ceiling could use all.
        // (Plain loops: this runs for every request.)
        long? ceiling = null;
        foreach (var d in deployments)
        {
            if (d.Provider.Translator.MaxCompletionTokens is not { } c)
            {
                ceiling = null;
                break;
            }

            ceiling = Math.Max(ceiling ?? long.MinValue, c);
        }

        if (ceiling is { } most)
        {
            perChoice = Math.Min(perChoice, most);
        }

        long prompt = exchange.EstimatedPromptTokens;
        var completion = checked(perChoice * Math.Max(1, request.N ?? 1));
        var worst = 0L;
        for (var i = 0; i < deployments.Count; i++)
        {
            var cost = deployments[i].Price.CostMicros(prompt, completion);
            worst = i == 0 ? cost : Math.Max(worst, cost);
        }

        return new ReservationSize(prompt, completion, worst);
    }

    /// <summary>
    /// A request whose reservation exceeds a limit outright could never be admitted, however long it waited:
    /// that is the client's request to change (a 400 naming the limit), not a 429 with a retry that never comes true.
    /// </summary>
    public GatewayError? NeverFits(LimitPlan plan, string key, string maxTokensParam)
    {
        var param = CompletionTokens > 0 ? maxTokensParam : "messages";
        foreach (var w in plan.Windows)
        {
            if (w.Kind == LimitKind.Tokens && w.Cost > w.Limit)
            {
                return new GatewayError(400, "invalid_request_error",
                    $"This request reserves {w.Cost} tokens (about {PromptTokens} in the prompt and up to {CompletionTokens} to complete), more than " +
                    $"{Holder(w.Team, key)} may use in a window ({w.Limit}); lower '{maxTokensParam}' or shorten the prompt.", param, "request_exceeds_limit");
            }
        }

        foreach (var b in plan.Budgets)
        {
            if (b.CostMicros > b.LimitMicros)
            {
                return new GatewayError(400, "invalid_request_error",
                    $"This request can cost up to ${Money.Usd(b.CostMicros)}, more than the whole {(b.Period == BudgetPeriod.Day ? "daily" : "monthly")} " +
                    $"budget of {Holder(b.Team, key)} (${Money.Usd(b.LimitMicros)}); lower '{maxTokensParam}' or shorten the prompt.", param, "request_exceeds_budget");
            }
        }

        return null;
    }

    private static string Holder(string? team, string key) => team is null ? $"key '{key}'" : $"team '{team}'";

    /// <summary>How long a request may hold an in-flight slot before its lease lapses (renewed while it runs).</summary>
    public static TimeSpan LeaseFor(ModelRoute route, TimeSpan margin)
    {
        var longest = route.Deployments.Select(d => d.Provider.ResponseTimeout
                + (d.Provider.Translator is Translators.Translation.IAsyncTaskProvider ? d.Provider.TaskTimeout : TimeSpan.Zero)
                + TimeSpan.FromSeconds(d.Provider.Options.MaxQueueSeconds))
            .DefaultIfEmpty(TimeSpan.FromMinutes(2)).Max();
        return longest + margin;
    }
}
