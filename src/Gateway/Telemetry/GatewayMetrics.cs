using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Requests;

namespace Gateway.Telemetry;

/// <summary>
/// Every instrument of the gateway, created once here so names, units and attributes live in one
/// place. GenAI instruments follow the OpenTelemetry semantic conventions (names, units, bucket
/// boundaries); the <c>gateway.*</c> ones are the gateway's own. Tags are built only when an
/// instrument is enabled (someone listens).
/// </summary>
internal sealed class GatewayMetrics
{
    private readonly bool _keyNames;
    private readonly Histogram<long> _tokens;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _timePerOutputToken;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _cost;
    private readonly Counter<long> _decisions;
    private readonly Counter<long> _settlements;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _upstreamErrors;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _circuitTransitions;
    private readonly Counter<long> _circuitSkips;
    private readonly Counter<long> _reservationsLost;
    private readonly UpDownCounter<long> _tasksWaiting;
    private readonly Counter<long> _tasksCompleted;
    private readonly Counter<long> _usageWritten;
    private readonly Counter<long> _usageSpilled;
    private readonly Counter<long> _cacheRequests;
    private readonly Counter<long> _cacheCoalesced;
    private readonly UpDownCounter<long> _cacheWaiting;
    private readonly UpDownCounter<long> _pacerQueued;
    private readonly Counter<long> _cacheSaved;
    private readonly Counter<long> _cacheErrors;

    public GatewayMetrics(IMeterFactory meters, TelemetryOptions options)
    {
        _keyNames = options.KeyNamesInMetrics;
        Meter = meters.Create(GatewayTelemetry.MeterName);
        _tokens = Meter.CreateHistogram("gen_ai.client.token.usage", "{token}", "Tokens used per request, by gen_ai.token.type (input, output).",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] });
        _duration = Meter.CreateHistogram("gen_ai.server.request.duration", "s", "Time from the request's arrival to the end of its answer.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92] });
        _timeToFirstToken = Meter.CreateHistogram("gen_ai.server.time_to_first_token", "s", "Time from the request's arrival to the first token sent to the client.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0] });
        _timePerOutputToken = Meter.CreateHistogram("gen_ai.server.time_per_output_token", "s", "Time per output token after the first, for successful answers.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5] });
        _requests = Meter.CreateCounter<long>("gateway.requests", "{request}", "Chat completion requests, by model, provider, status and outcome.");
        _cost = Meter.CreateCounter<long>("gateway.cost.micro_usd", "{micro_usd}", "Cost by the price table, in micro-dollars.");
        _decisions = Meter.CreateCounter<long>("gateway.ratelimit.decisions", "{decision}", "Admission decisions, by gateway.decision.");
        _settlements = Meter.CreateCounter<long>("gateway.ratelimit.settlements", "{settlement}",
            "Reservations ended: settled, cancelled (admissions given up), and attempts retrying or spilled to disk while the store is unreachable.");
        _fallbacks = Meter.CreateCounter<long>("gateway.fallbacks", "{fallback}", "Requests moved to a model's next deployment, by the provider that failed and why.");
        _upstreamErrors = Meter.CreateCounter<long>("gateway.upstream.errors", "{error}", "Failed provider attempts, by provider and error.type (the gateway's error code: upstream_timeout, upstream_rejected_request, ...).");
        _attempts = Meter.CreateCounter<long>("gateway.upstream.attempts", "{attempt}",
            "Attempts at a deployment, retries included, by provider, gateway.deployment and gateway.attempt.outcome (succeeded, failed, rejected, client_gone).");
        _retries = Meter.CreateCounter<long>("gateway.upstream.retries", "{retry}", "Retries at the same deployment, by provider and the error.type that caused them.");
        _circuitTransitions = Meter.CreateCounter<long>("gateway.circuit.transitions", "{transition}",
            "Circuits opened or closed by this replica, by gateway.deployment and gateway.circuit.state (open, closed).");
        _circuitSkips = Meter.CreateCounter<long>("gateway.circuit.skips", "{skip}", "Deployments left out of a request because their circuit was open.");
        _reservationsLost = Meter.CreateCounter<long>("gateway.reservations.lost", "{reservation}",
            "Reservations of a replica that died mid-request, recorded by this replica as replica_lost.");
        _tasksWaiting = Meter.CreateUpDownCounter<long>("gateway.async_tasks.waiting", "{task}", "Async-task (Hive V2) requests waiting for their result.");
        _tasksCompleted = Meter.CreateCounter<long>("gateway.async_tasks.completed", "{task}", "Async tasks ended, by how: callback, poll, timeout, failed.");
        _usageWritten = Meter.CreateCounter<long>("gateway.usage.written", "{record}", "Usage records taken by the usage store.");
        _usageSpilled = Meter.CreateCounter<long>("gateway.usage.spilled", "{record}", "Usage records written to the local spill file because the store could not take them.");
        _cacheRequests = Meter.CreateCounter<long>("gateway.cache.requests", "{request}",
            "Chat requests by what the response cache did, gateway.cache.result: hit, miss, bypass (not cacheable, or the cache is off), refresh.");
        _pacerQueued = Meter.CreateUpDownCounter<long>("gateway.provider.queued", "{request}",
            "Requests waiting on this replica for a slot of their provider's own request rate (WhenLimited: queue).");
        _cacheWaiting = Meter.CreateUpDownCounter<long>("gateway.cache.waiting", "{request}",
            "Requests waiting for an identical request's provider call (coalescing), on this replica.");
        _cacheCoalesced = Meter.CreateCounter<long>("gateway.cache.coalesced", "{request}", "Requests answered by an identical request's provider call instead of their own.");
        _cacheSaved = Meter.CreateCounter<long>("gateway.cache.saved.micro_usd", "{micro_usd}", "What cache hits would have cost at the provider, in micro-dollars.");
        _cacheErrors = Meter.CreateCounter<long>("gateway.cache.errors", "{error}",
            "Cache operations that failed (the request went on as a miss), by gateway.cache.operation: lookup, store, lead.");
    }

    public Meter Meter { get; }

    public bool KeyNames => _keyNames;

    /// <summary>The whole of one request, from its usage record: every request counts, refused ones included.</summary>
    public void RequestCompleted(UsageRecord r)
    {
        if (_requests.Enabled)
        {
            var tags = Common(r);
            tags.Add(GatewayTelemetry.StatusCode, BoxedStatus(r.Status));
            tags.Add(GatewayTelemetry.Outcome, r.Outcome);
            _requests.Add(1, tags);
        }

        if (r.Provider is null)
        {
            // Refused before any provider was involved: nothing was generated or spent.
            return;
        }

        if (_duration.Enabled)
        {
            var tags = Common(r);
            if (r.Failed)
            {
                tags.Add(GatewayTelemetry.ErrorType, r.Outcome);
            }

            _duration.Record(r.LatencyMs / 1000, tags);
        }

        if (_tokens.Enabled && (r.PromptTokens > 0 || r.CompletionTokens > 0))
        {
            var input = Common(r);
            input.Add(GatewayTelemetry.TokenType, "input");
            _tokens.Record(r.PromptTokens, input);
            var output = Common(r);
            output.Add(GatewayTelemetry.TokenType, "output");
            _tokens.Record(r.CompletionTokens, output);
        }

        if (_cost.Enabled && r.CostMicros != 0)
        {
            _cost.Add(r.CostMicros, Common(r));
        }

        CacheSaved(r.Model, r.SavedMicros);

        // A cache hit's first token says nothing about the provider's speed.
        if (r.TimeToFirstTokenMs is { } ttft && !r.Failed && !r.CacheHit)
        {
            if (_timeToFirstToken.Enabled)
            {
                _timeToFirstToken.Record(ttft / 1000, Common(r));
            }

            if (_timePerOutputToken.Enabled && r.CompletionTokens > 1)
            {
                _timePerOutputToken.Record((r.LatencyMs - ttft) / 1000 / (r.CompletionTokens - 1), Common(r));
            }
        }
    }

    public void Decision(string decision) => Add(_decisions, "gateway.decision", decision);

    public void Settlement(string result, int count = 1)
    {
        if (_settlements.Enabled)
        {
            _settlements.Add(count, new KeyValuePair<string, object?>("gateway.result", result));
        }
    }

    public void Fallback(string model, string provider, string? reason)
    {
        if (_fallbacks.Enabled)
        {
            _fallbacks.Add(1, new TagList
            {
                { GatewayTelemetry.RequestModel, model }, { GatewayTelemetry.System, provider }, { "gateway.fallback.reason", reason ?? "unknown" },
            });
        }
    }

    public void UpstreamError(string provider, string errorType)
    {
        if (_upstreamErrors.Enabled)
        {
            _upstreamErrors.Add(1, new TagList { { GatewayTelemetry.System, provider }, { GatewayTelemetry.ErrorType, errorType } });
        }
    }

    public void Attempt(string provider, string deployment, string outcome)
    {
        if (_attempts.Enabled)
        {
            _attempts.Add(1, new TagList { { GatewayTelemetry.System, provider }, { Deployment, deployment }, { "gateway.attempt.outcome", outcome } });
        }
    }

    public void Retry(string provider, string reason)
    {
        if (_retries.Enabled)
        {
            _retries.Add(1, new TagList { { GatewayTelemetry.System, provider }, { GatewayTelemetry.ErrorType, reason } });
        }
    }

    public void CircuitChanged(string deployment, bool opened)
    {
        if (_circuitTransitions.Enabled)
        {
            _circuitTransitions.Add(1, new TagList { { Deployment, deployment }, { "gateway.circuit.state", opened ? "open" : "closed" } });
        }
    }

    public void ReservationLost() => _reservationsLost.Add(1);

    public void CircuitSkipped(string deployment)
    {
        if (_circuitSkips.Enabled)
        {
            _circuitSkips.Add(1, new KeyValuePair<string, object?>(Deployment, deployment));
        }
    }

    /// <summary>A deployment's identity in metrics: provider/upstream model (never a key or secret).</summary>
    public const string Deployment = "gateway.deployment";

    public void TaskWaiting(string provider, int delta)
    {
        if (_tasksWaiting.Enabled)
        {
            _tasksWaiting.Add(delta, new KeyValuePair<string, object?>(GatewayTelemetry.System, provider));
        }
    }

    public void TaskCompleted(string provider, string how)
    {
        if (_tasksCompleted.Enabled)
        {
            _tasksCompleted.Add(1, new TagList { { GatewayTelemetry.System, provider }, { "gateway.completed_by", how } });
        }
    }

    public void UsageWritten(int count) => _usageWritten.Add(count);

    public void UsageSpilled(int count) => _usageSpilled.Add(count);

    public void CacheResult(string model, string result)
    {
        if (_cacheRequests.Enabled)
        {
            _cacheRequests.Add(1, new KeyValuePair<string, object?>(GatewayTelemetry.RequestModel, model),
                new KeyValuePair<string, object?>("gateway.cache.result", result));
        }
    }

    public void CacheCoalesced(string model)
    {
        if (_cacheCoalesced.Enabled)
        {
            _cacheCoalesced.Add(1, new KeyValuePair<string, object?>(GatewayTelemetry.RequestModel, model));
        }
    }

    public void PacerQueued(string provider, int delta)
    {
        if (_pacerQueued.Enabled)
        {
            _pacerQueued.Add(delta, new KeyValuePair<string, object?>(GatewayTelemetry.System, provider));
        }
    }

    public void CacheWaiting(string model, int delta)
    {
        if (_cacheWaiting.Enabled)
        {
            _cacheWaiting.Add(delta, new KeyValuePair<string, object?>(GatewayTelemetry.RequestModel, model));
        }
    }

    public void CacheSaved(string model, long micros)
    {
        if (_cacheSaved.Enabled && micros > 0)
        {
            _cacheSaved.Add(micros, new KeyValuePair<string, object?>(GatewayTelemetry.RequestModel, model));
        }
    }

    public void CacheFailed(string operation) => Add(_cacheErrors, "gateway.cache.operation", operation);

    private TagList Common(UsageRecord r)
    {
        var tags = new TagList
        {
            { GatewayTelemetry.OperationName, GatewayTelemetry.Chat },
            { GatewayTelemetry.RequestModel, r.Model },
            { GatewayTelemetry.System, r.Provider ?? UsageRecord.None },
        };
        if (r.UpstreamModel is not null)
        {
            tags.Add(GatewayTelemetry.ResponseModel, r.UpstreamModel);
        }

        if (_keyNames)
        {
            tags.Add(GatewayTelemetry.Key, r.Key);
        }

        return tags;
    }

    // Status codes as attribute values without boxing one per request.
    private static readonly object[] StatusBoxes = [.. Enumerable.Range(0, 600).Select(i => (object)i)];

    private static object BoxedStatus(int status) => status is >= 0 and < 600 ? StatusBoxes[status] : status;

    private static void Add(Counter<long> counter, string name, string value)
    {
        if (counter.Enabled)
        {
            counter.Add(1, new KeyValuePair<string, object?>(name, value));
        }
    }
}
