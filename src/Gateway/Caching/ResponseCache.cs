using System.Collections.Concurrent;
using Gateway.Telemetry;
using Gateway.Translators.Contract;
using Microsoft.Extensions.Caching.Distributed;
using Gateway.Requests;
using Gateway.Configuration;

namespace Gateway.Caching;

/// <summary>
/// The exact-match response cache, on <see cref="IDistributedCache"/> (Redis when configured, so every replica shares
/// it; in memory otherwise), with coalescing: while one request of a kind calls the provider, identical ones wait for
/// its answer instead of calling again (on other replicas too, through <see cref="IFlightLeads"/>). The cache can only
/// ever make a request a miss: a store that fails, times out or holds a bad entry is logged and counted, never an error
/// to the client. Waits are bounded; a waiter whose leader fails, or whose wait runs out, calls the provider itself;
/// a client that leaves stops only its own wait.
/// </summary>
internal sealed partial class ResponseCache(IDistributedCache store, IFlightLeads leads, GatewayMetrics metrics, TimeProvider clock,
    ILogger<ResponseCache> logger)
{
    private readonly ConcurrentDictionary<string, Flight> _flights = new(StringComparer.Ordinal);
    private long _lastFailureLogged;

    /// <summary>
    /// Decides what the cache does for the request, without any I/O: bypass (and why), refresh, or a lookup to make
    /// (<see cref="CacheTicket.ToLookUp"/>, then <see cref="FindAsync"/>).
    /// </summary>
    public CacheTicket Decide(HttpContext context, ChatExchange exchange, ResponseCacheSettings settings)
    {
        var ticket = DecideWhat(context, exchange, settings);
        if (!ticket.ToLookUp)
        {
            metrics.CacheResult(exchange.Route.Name, ticket.HeaderValue);
        }

        return ticket;
    }

    /// <summary>Looks the answer up: true (and the ticket a hit) when it was found.</summary>
    public async Task<bool> FindAsync(ChatExchange exchange, CacheTicket ticket, ResponseCacheSettings settings)
    {
        if (await GetAsync(ticket.Hash!, settings) is { } found)
        {
            ticket.Found(found);
        }

        metrics.CacheResult(exchange.Route.Name, ticket.HasAnswer ? "hit" : "miss");
        return ticket.HasAnswer;
    }

    /// <summary>
    /// Answers the request from the cache, or from an identical request's call it waited for; null when this request
    /// must call the provider (and its answer is recorded for the cache when it may be stored).
    /// </summary>
    public async Task<AttemptResult?> ServeAsync(HttpContext context, ChatExchange exchange, CacheTicket ticket, ResponseCacheSettings settings)
    {
        if (ticket.Status == CacheStatus.Miss && !ticket.HasAnswer && await JoinAsync(exchange, ticket, settings, exchange.Stop.Token) is { } landed)
        {
            ticket.ServedBy(landed);
            metrics.CacheCoalesced(exchange.Route.Name);
        }

        if (!ticket.HasAnswer)
        {
            return null;
        }

        ticket.Serving();
        return await CacheReplay.WriteAsync(context, exchange, ticket.Answer!);
    }

    /// <summary>
    /// Called once the answer has ended, however it ended: stores a clean answer and lands the flight this request led.
    /// Storing happens off the request's path.
    /// </summary>
    public void Complete(CacheTicket ticket, AttemptResult? result)
    {
        if ((ticket.Recorder is null && ticket.Flight is null) || ticket.Settled)
        {
            return;
        }

        var answer = result is { Outcome: AttemptOutcome.Succeeded, Answer: { } produced } ? ToStore(ticket, produced) : null;
        _ = StoreAndLandAsync(ticket, answer);
    }

    private static CacheTicket DecideWhat(HttpContext context, ChatExchange exchange, ResponseCacheSettings settings)
    {
        if (settings.For(exchange.Route.Cache, exchange.Key.Cache) is not { } policy)
        {
            return CacheTicket.Off;
        }

        var control = CacheControl.Read(context.Request.Headers, out var error);
        if (error is not null)
        {
            return CacheTicket.Invalid(error);
        }

        if (control.NoStore)
        {
            return CacheTicket.Bypassed("no_store");
        }

        if (Repeatability.WhyNot(exchange.Request, policy) is { } reason)
        {
            return CacheTicket.Bypassed(reason);
        }

        var hash = CacheKey.For(exchange, policy);
        var ttl = control.Ttl is { } asked && asked < policy.Ttl ? asked : policy.Ttl;
        if (control.Refresh && policy.Shared && !exchange.Key.IsAdmin)
        {
            // A shared entry is every key's answer: one key may not replace it for the others. It still gets what it
            // asked for, a fresh answer from the provider, which is not stored.
            return CacheTicket.Bypassed("refresh_needs_admin");
        }

        if (control.Refresh)
        {
            var refresh = CacheTicket.ToStore(CacheStatus.Refresh, hash, policy, ttl);
            refresh.Record();
            return refresh;
        }

        return CacheTicket.ToStore(CacheStatus.Miss, hash, policy, ttl, lookUp: true);
    }

    /// <summary>
    /// This request calls the provider: its answer is recorded, and stored (landing its flight) the moment it is whole,
    /// not when this request's client has read it: a slow reader must not hold other keys' identical requests.
    /// </summary>
    private void Record(CacheTicket ticket)
    {
        ticket.Record().Ended = produced =>
        {
            if (ToStore(ticket, produced) is { } answer)
            {
                ticket.Settled = true;
                _ = StoreAndLandAsync(ticket, answer);
            }
        };
    }

    /// <summary>For a miss: the answer of an identical request in flight, or null when this request calls the provider.</summary>
    private async Task<CachedAnswer?> JoinAsync(ChatExchange exchange, CacheTicket ticket, ResponseCacheSettings settings, CancellationToken cancellationToken)
    {
        var hash = ticket.Hash!;
        if (settings.CoalesceWait <= TimeSpan.Zero)
        {
            Record(ticket);
            return null;
        }

        var mine = new Flight();
        var flight = _flights.GetOrAdd(hash, mine);
        if (flight == mine)
        {
            var (led, landed) = await LeadOrFollowAsync(hash, flight, settings);
            if (led)
            {
                ticket.Flight = flight;
                Record(ticket);
                return null;
            }

            if (landed is not null)
            {
                return landed;
            }

            // Another replica leads: this request waits below, with the others here.
        }

        CachedAnswer? answer;
        metrics.CacheWaiting(exchange.Route.Name, +1);
        try
        {
            answer = await flight.Landed.Task.WaitAsync(settings.CoalesceWait, clock, cancellationToken);
        }
        catch (TimeoutException)
        {
            answer = null;
        }
        finally
        {
            metrics.CacheWaiting(exchange.Route.Name, -1);
        }

        if (answer is null)
        {
            // The leader failed, or took longer than the wait: this request calls the provider itself.
            Record(ticket);
        }

        return answer;
    }

    /// <summary>
    /// The first request of a kind on this replica: it leads (calls the provider), finds the answer landed after all,
    /// or, when another replica leads, starts the one wait that lands this replica's flight. Whatever goes wrong, the
    /// flight is landed (empty), so no one here waits on it for nothing.
    /// </summary>
    private async Task<(bool Led, CachedAnswer? Landed)> LeadOrFollowAsync(string hash, Flight flight, ResponseCacheSettings settings)
    {
        try
        {
            if (!await leads.TryLeadAsync(hash, settings.CoalesceWait))
            {
                _ = FollowAsync(hash, flight, settings);
                return (false, null);
            }

            // The answer may have landed between the lookup and the lead: then it serves everyone here.
            if (await GetAsync(hash, settings) is { } landed)
            {
                LandHere(hash, flight, landed);
                await leads.LandAsync(hash);
                return (false, landed);
            }

            return (true, null);
        }
        catch
        {
            LandHere(hash, flight, null);
            throw;
        }
    }

    private async Task FollowAsync(string hash, Flight flight, ResponseCacheSettings settings)
    {
        CachedAnswer? answer = null;
        try
        {
            await leads.WaitForLandingAsync(hash, settings.CoalesceWait);
            answer = await GetAsync(hash, settings);
        }
        finally
        {
            LandHere(hash, flight, answer);
        }
    }

    private void LandHere(string hash, Flight flight, CachedAnswer? answer)
    {
        _flights.TryRemove(new KeyValuePair<string, Flight>(hash, flight));
        flight.Landed.TrySetResult(answer);
    }

    private CachedAnswer? ToStore(CacheTicket ticket, ProducedAnswer produced)
    {
        if (ticket.Recorder?.Answer() is not { } completion)
        {
            return null;
        }

        var (prompt, completionTokens, estimated) = produced.FinalUsage();
        completion.Usage = new Usage { PromptTokens = prompt, CompletionTokens = completionTokens, TotalTokens = prompt + completionTokens };
        return new CachedAnswer
        {
            Completion = completion,
            Estimated = estimated,
            CostMicros = produced.CostMicros(),
            Deployment = produced.ServedBy?.Id,
            StoredAt = clock.GetUtcNow().ToUnixTimeSeconds(),
        };
    }

    private async Task StoreAndLandAsync(CacheTicket ticket, CachedAnswer? answer)
    {
        // Stored first, landed after: a request that missed just before the store and comes to lead just after the
        // landing then finds the answer in the cache instead of asking the provider again.
        var hash = ticket.Hash!;
        try
        {
            var bytes = answer?.ToBytes();
            if (bytes is not null && bytes.Length <= ticket.Policy!.MaxEntryBytes && ticket.Ttl > TimeSpan.Zero)
            {
                var options = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = ticket.Ttl };
                await store.SetAsync(hash, bytes, options).WaitAsync(TimeSpan.FromSeconds(5), clock);
            }
        }
        catch (Exception ex)
        {
            Failed("store", ex);
        }
        finally
        {
            if (ticket.Flight is { } flight)
            {
                // The requests waiting here take the answer as it is, stored or not.
                LandHere(hash, flight, answer);
                await leads.LandAsync(hash);
            }
        }
    }

    private async Task<CachedAnswer?> GetAsync(string hash, ResponseCacheSettings settings)
    {
        try
        {
            return CachedAnswer.FromBytes(await store.GetAsync(hash).WaitAsync(settings.LookupTimeout, clock));
        }
        catch (Exception ex)
        {
            Failed("lookup", ex);
            return null;
        }
    }

    private void Failed(string operation, Exception ex)
    {
        metrics.CacheFailed(operation);
        // Once in ten seconds at most: an outage must not flood the log with one line per request.
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _lastFailureLogged);
        if (now - last >= 10_000 && Interlocked.CompareExchange(ref _lastFailureLogged, now, last) == last)
        {
            Log.CacheFailed(logger, operation, ex.GetType().Name, ex.Message);
        }
    }

    /// <summary>The requests of one kind on this replica waiting for the one that asks.</summary>
    internal sealed class Flight
    {
        public TaskCompletionSource<CachedAnswer?> Landed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static partial class Log
    {
        [LoggerMessage(110, LogLevel.Warning, "Response cache {Operation} failed ({Error}: {Message}); requests go on as misses")]
        public static partial void CacheFailed(ILogger logger, string operation, string error, string message);
    }
}
