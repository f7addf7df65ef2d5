using System.Globalization;
using System.Text;

namespace ProviderSimulator;

/// <summary>One simulated request: its knobs, its log entry, and the fault behaviours shared by every provider.</summary>
public sealed class SimExchange(HttpContext context, LoggedRequest entry, Directives directives)
{
    public HttpContext Context { get; } = context;
    public LoggedRequest Entry { get; } = entry;
    public Directives Knobs { get; } = directives;
    public CancellationToken Aborted => Context.RequestAborted;

    private int _chunksWritten;

    /// <summary>Applies latency and connection resets; false when the connection was dropped.</summary>
    public async Task<bool> BeforeAnswerAsync()
    {
        if (Knobs.Text("hold") is { } gate)
        {
            // Held until the test opens the gate: it knows this request reached the provider, and decides when it goes on.
            await Context.RequestServices.GetRequiredService<Gates>().For(gate).PassAsync(Aborted);
        }

        if (Knobs.Int("latency_ms") is { } latency)
        {
            await Task.Delay(latency, Aborted);
        }

        if (Knobs.Flag("reset"))
        {
            Context.Abort();
            return false;
        }

        return true;
    }

    public async Task WriteJsonAsync(int status, byte[] body, string contentType = "application/json")
    {
        Context.Response.StatusCode = status;
        Context.Response.ContentType = contentType;
        if (Knobs.Int("truncate_after") is { } cut && cut < body.Length)
        {
            // Promise the whole body, send part of it, and drop the connection.
            Context.Response.ContentLength = body.Length;
            await Context.Response.Body.WriteAsync(body.AsMemory(0, cut), Aborted);
            await Context.Response.Body.FlushAsync(Aborted);
            Context.Abort();
            return;
        }

        await Context.Response.Body.WriteAsync(body, Aborted);
        Entry.Completed = true;
    }

    public async Task StartStreamAsync()
    {
        Context.Response.StatusCode = 200;
        Context.Response.ContentType = "text/event-stream";
        Context.Response.Headers.CacheControl = "no-cache";
        await Context.Response.StartAsync(Aborted);
    }

    /// <summary>Writes one SSE event honouring chunk_delay_ms, truncate_after and error_event_after; false to stop.</summary>
    public async Task<bool> WriteEventAsync(byte[] sseEvent)
    {
        if (_chunksWritten == 1 && Knobs.Text("ping_hold") is { } hold)
        {
            // ping_hold=name, pings=N: between the first and second chunks, N SSE comments, each sent when the test opens its
            // gate (name.1 … name.N). The test decides when the provider shows signs of life; no clock is involved.
            var gates = Context.RequestServices.GetRequiredService<Gates>();
            for (var i = 1; i <= (Knobs.Int("pings") ?? 1); i++)
            {
                await gates.For($"{hold}.{i}").PassAsync(Aborted);
                await WriteRawAsync(": ping\n\n"u8.ToArray());
            }
        }

        if (_chunksWritten > 0 && Knobs.Int("chunk_delay_ms") is { } delay)
        {
            // ping_every_ms: SSE comments while waiting, as providers send to keep connections alive.
            var ping = Knobs.Int("ping_every_ms") ?? delay;
            for (var waited = 0; waited < delay; waited += ping)
            {
                await Task.Delay(Math.Min(ping, delay - waited), Aborted);
                if (waited + ping < delay)
                {
                    await WriteRawAsync(": ping\n\n"u8.ToArray());
                }
            }
        }

        if (Knobs.Int("truncate_after") is { } cut && _chunksWritten >= cut)
        {
            Context.Abort();
            return false;
        }

        if (Knobs.Int("error_event_after") is { } failAt && _chunksWritten >= failAt)
        {
            await WriteRawAsync(Encoding.UTF8.GetBytes("data: {\"error\":{\"message\":\"simulated mid-stream failure\",\"type\":\"server_error\"}}\n\n"));
            return false;
        }

        if (Knobs.Flag("malformed") && _chunksWritten == 1)
        {
            await WriteRawAsync("data: {\"id\": \"broken\", \"choices\": [\n\n"u8.ToArray());
            return false;
        }

        _chunksWritten++;
        await WriteRawAsync(sseEvent);
        return true;
    }

    public async Task WriteRawAsync(byte[] bytes)
    {
        await Context.Response.Body.WriteAsync(bytes, Aborted);
        await Context.Response.Body.FlushAsync(Aborted);
    }

    public void SetRetryAfter()
    {
        if (Knobs.Int("retry_after") is { } seconds)
        {
            Context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }
    }
}
