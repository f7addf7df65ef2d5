using System.Diagnostics;

namespace LoadGen;

/// <summary>The measurements: one request at a time, fixed request rates (open loop), streams, and held streams.</summary>
internal sealed class Scenarios(HttpClient http)
{
    private const string Prompt = "Say hello to the benchmark";

    /// <summary>One request in flight at a time; latency from send to last byte.</summary>
    public async Task<Samples> SequentialAsync(Arm arm, int warmup, int count)
    {
        var samples = new Samples();
        for (var i = 0; i < warmup + count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await SendAsync(arm);
            if (i >= warmup)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        }

        return samples;
    }

    /// <summary>
    /// Requests sent on a fixed schedule regardless of answers (open loop), so a slow server
    /// cannot slow the test down. Latency counts from the moment each request is handed to the
    /// client (the scheduler's own timer jitter, ~1 ms on this kind of VM, would otherwise swamp
    /// the differences being measured); requests never wait for each other.
    /// </summary>
    public async Task<RateResult> FixedRateAsync(Arm arm, double rate, TimeSpan duration)
    {
        var samples = new Samples();
        var errors = 0;
        var total = (int)(rate * duration.TotalSeconds);
        var inflight = new List<Task>(total);
        var cpuBefore = arm.CpuMicros();
        var start = Stopwatch.GetTimestamp();
        var ticksPerRequest = Stopwatch.Frequency / rate;
        for (var i = 0; i < total; i++)
        {
            var due = start + (long)(i * ticksPerRequest);
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait);
            }

            inflight.Add(Task.Run(async () =>
            {
                try
                {
                    var sent = Stopwatch.GetTimestamp();
                    await SendAsync(arm);
                    samples.Add(Stopwatch.GetElapsedTime(sent).TotalMicroseconds);
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref errors);
                }
            }));
        }

        await Task.WhenAll(inflight);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpu = arm.CpuMicros() - cpuBefore;
        return new RateResult(rate, samples.Count / elapsed, samples.P50, samples.P99, errors, total)
        {
            CpuMicrosPerRequest = cpu is null || samples.Count == 0 ? null : cpu / samples.Count,
        };
    }

    /// <summary>Streams one at a time: time to the first event, and the gaps between events.</summary>
    public async Task<StreamResult> StreamsAsync(Arm arm, int warmup, int count, int words, int chunkDelayMs)
    {
        var ttft = new Samples();
        var gaps = new Samples();
        var errors = 0;
        var prompt = $"stream [sim words={words} chunk_delay_ms={chunkDelayMs}]";
        for (var i = 0; i < warmup + count; i++)
        {
            var measure = i >= warmup;
            try
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(arm.Request(prompt, stream: true), HttpCompletionOption.ResponseHeadersRead);
                response.EnsureSuccessStatusCode();
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                long? last = null;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var now = Stopwatch.GetTimestamp();
                    if (measure)
                    {
                        if (last is null)
                        {
                            ttft.Add(Stopwatch.GetElapsedTime(start, now).TotalMicroseconds);
                        }
                        else
                        {
                            gaps.Add(Stopwatch.GetElapsedTime(last.Value, now).TotalMicroseconds);
                        }
                    }

                    last = now;
                }
            }
            catch (HttpRequestException)
            {
                errors++;
            }
        }

        return new StreamResult(ttft, gaps, errors);
    }

    /// <summary>Opens <paramref name="count"/> slow streams, waits until each has sent its first event, and keeps them open.</summary>
    public async Task<(List<Task> Streams, CancellationTokenSource Stop, int Opened)> HoldStreamsAsync(Arm arm, int count)
    {
        var stop = new CancellationTokenSource();
        var opened = 0;
        using var allOpen = new CountdownEvent(count);
        var streams = Enumerable.Range(0, count).Select(_ => Task.Run(async () =>
        {
            var signalled = false;
            try
            {
                using var response = await http.SendAsync(arm.Request("hold [sim words=400 chunk_delay_ms=250]", stream: true),
                    HttpCompletionOption.ResponseHeadersRead, stop.Token);
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));
                while (await reader.ReadLineAsync(stop.Token) is { } line)
                {
                    if (!signalled && line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        signalled = true;
                        Interlocked.Increment(ref opened);
                        allOpen.Signal();
                    }
                }
            }
            catch (Exception) when (stop.IsCancellationRequested || true)
            {
                // Cancelled at the end of the measurement, or failed to open.
            }
            finally
            {
                if (!signalled)
                {
                    allOpen.Signal();
                }
            }
        })).ToList();
        await Task.Run(() => allOpen.Wait(TimeSpan.FromSeconds(60)));
        return (streams, stop, opened);
    }

    private async Task SendAsync(Arm arm)
    {
        using var response = await http.SendAsync(arm.Request(Prompt, stream: false), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        await body.CopyToAsync(Stream.Null);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"status {(int)response.StatusCode} from {arm.Name}");
        }
    }
}
