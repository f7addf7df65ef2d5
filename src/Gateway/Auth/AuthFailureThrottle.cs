using System.Collections.Concurrent;
using System.Net;
using Gateway.Configuration;
using Gateway.Errors;

namespace Gateway.Auth;

/// <summary>
/// Authenticates client keys, and slows down addresses that keep presenting wrong ones: after
/// <c>Server:AuthFailuresPerMinute</c> failures within a minute, an address gets 429 without its key being
/// looked at, until the minute has passed. Guessing keys becomes slow, and a flood of strangers costs little.
/// The table of addresses is bounded; the client address is the one ASP.NET resolved (trusted proxies only).
/// </summary>
internal sealed class ClientAuth(ConfigStore config, TimeProvider clock)
{
    private const int MaxTrackedAddresses = 100_000;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<IPAddress, Failures> _failures = new();

    public ClientKey? Authenticate(HttpContext context, GatewaySnapshot snapshot, out GatewayError? error)
    {
        var limit = snapshot.Server.AuthFailuresPerMinute;
        var address = context.Connection.RemoteIpAddress;
        var now = clock.GetUtcNow();
        if (limit > 0 && address is not null && _failures.TryGetValue(address, out var seen) && seen.Count >= limit && now - seen.Since < Window)
        {
            error = new GatewayError(429, "requests", "Too many failed authentication attempts from this address; retry later.",
                Code: "too_many_authentication_failures") { RetryAfter = seen.Since + Window - now };
            return null;
        }

        var key = ClientKeyAuthenticator.Authenticate(context.Request, snapshot, out error);
        if (key is null && limit > 0 && address is not null)
        {
            Count(address, now);
        }

        return key;
    }

    public ClientKey? Authenticate(HttpContext context, out GatewayError? error) => Authenticate(context, config.Current, out error);

    private void Count(IPAddress address, DateTimeOffset now)
    {
        if (_failures.Count >= MaxTrackedAddresses)
        {
            // Bounded: forget the addresses whose minute is over; if all are fresh, forget all (a flood from everywhere).
            foreach (var (ip, f) in _failures)
            {
                if (now - f.Since >= Window)
                {
                    _failures.TryRemove(ip, out _);
                }
            }

            if (_failures.Count >= MaxTrackedAddresses)
            {
                _failures.Clear();
            }
        }

        _failures.AddOrUpdate(address, _ => new Failures(now, 1),
            (_, f) => now - f.Since >= Window ? new Failures(now, 1) : f with { Count = f.Count + 1 });
    }

    private sealed record Failures(DateTimeOffset Since, int Count);
}
