using System.Diagnostics;
using System.Globalization;
using Gateway.Metering;
using Microsoft.Playwright;
using StackExchange.Redis;

// bench/dashboard.sh's helper.
//   fill-redis HOST:PORT PREFIX DAYS KEYS MODELS   rollups per day for DAYS days, and per hour for the last 3 days
//   fill-journal DIRECTORY DAYS KEYS MODELS          rollup files per day (hours live in memory only in this mode)
//   measure GATEWAY_URL ADMIN_KEY ROUNDS OUT_MD LABEL
return args[0] switch
{
    "fill-redis" => await FillRedisAsync(args[1], args[2], int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture), int.Parse(args[5], CultureInfo.InvariantCulture)),
    "fill-journal" => FillJournal(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), int.Parse(args[3], CultureInfo.InvariantCulture), int.Parse(args[4], CultureInfo.InvariantCulture)),
    "measure" => await MeasureAsync(new Uri(args[1]), args[2], int.Parse(args[3], CultureInfo.InvariantCulture), args[4], args[5]),
    _ => throw new ArgumentException("fill-redis | fill-journal | measure"),
};

// One cell per key x model (each model on one of four providers): traffic that varies by day, key and model.
static IEnumerable<(string Key, string Model, string Provider, RollupTotals Totals)> Cells(int day, int keys, int models)
{
    for (var k = 0; k < keys; k++)
    {
        for (var m = 0; m < models; m++)
        {
            var requests = 10 + ((day * 7 + k * 13 + m * 5) % 400);
            var totals = new RollupTotals
            {
                Requests = requests, FailedRequests = requests / 50, EstimatedRequests = m % 4 == 3 ? requests : 0,
                PromptTokens = requests * 120, CompletionTokens = requests * 80, CostMicros = requests * (20 + m * 15),
                CacheHits = requests / 10, SavedMicros = requests / 10 * (20 + m * 15),
            };
            yield return ($"key-{k:00}", $"model-{m:00}", $"provider-{m % 4}", totals);
        }
    }
}

static async Task<int> FillRedisAsync(string endpoint, string prefix, int days, int keys, int models)
{
    await using var redis = await ConnectionMultiplexer.ConnectAsync(endpoint);
    var db = redis.GetDatabase();
    var today = DateTime.UtcNow.Date;
    var writes = new List<Task>();
    for (var d = 0; d < days; d++)
    {
        var day = today.AddDays(-d);
        writes.Add(Write($"{prefix}{{usage}}:day:{day:yyyy-MM-dd}", Cells(d, keys, models)));
        for (var h = 0; h < 24 && d < UsageQuery.HourlyDays; h++)
        {
            // An hour holds a twenty-fourth of the day's cells.
            writes.Add(Write($"{prefix}{{usage}}:hour:{day:yyyy-MM-dd}T{h:00}", Cells(d * 24 + h, keys, models)));
        }
    }

    await Task.WhenAll(writes);
    Console.WriteLine($"filled {days} days and {UsageQuery.HourlyDays * 24} hours of {keys} keys x {models} models");
    return 0;

    Task Write(string hash, IEnumerable<(string Key, string Model, string Provider, RollupTotals Totals)> cells) =>
        db.HashSetAsync(hash, cells.SelectMany(c => RollupTotals.Metrics.Zip(c.Totals.Values())
            .Where(x => x.Second != 0)
            .Select(x => new HashEntry($"{c.Key}\u001f{c.Model}\u001f{c.Provider}\u001f{x.First}", x.Second))).ToArray());
}

static int FillJournal(string directory, int days, int keys, int models)
{
    Directory.CreateDirectory(directory);
    var today = DateTime.UtcNow.Date;
    for (var d = 1; d <= days; d++)
    {
        // Past days only: a rollup file stands for a sealed day.
        var day = today.AddDays(-d).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        JournalFiles.WriteRollup(directory, new DayRollup(day, [],
            [.. Cells(d, keys, models).Select(c => new RollupCell(c.Key, c.Model, c.Provider, c.Totals.Values()))]));
    }

    Console.WriteLine($"wrote {days} rollup files of {keys} keys x {models} models");
    return 0;
}

static async Task<int> MeasureAsync(Uri gateway, string adminKey, int rounds, string output, string label)
{
    var start = DateTime.UtcNow.Date.AddDays(-29).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    var hourStart = DateTime.UtcNow.Date.AddDays(-2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
    // The calls the page makes on every refresh (dashboard.js, refresh()), with its default filters.
    string[] calls =
    [
        $"/admin/usage?start={start}&group_by=day,model",
        $"/admin/usage?start={hourStart}&group_by=hour,model",
        $"/admin/usage?start={start}&group_by=key",
        $"/admin/usage?start={start}&group_by=provider",
        "/admin/limits",
        "/admin/stats?minutes=15",
        $"/admin/usage?start={start}&group_by=day,key,model,provider&format=csv",
    ];
    using var http = new HttpClient { BaseAddress = gateway };
    http.DefaultRequestHeaders.Authorization = new("Bearer", adminKey);
    var lines = new List<string>
    {
        $"### {label}",
        "",
        "| call | bytes | median ms | max ms |",
        "|---|---|---|---|",
    };
    foreach (var call in calls)
    {
        var times = new List<double>();
        long bytes = 0;
        for (var i = 0; i < rounds + 1; i++)
        {
            var watch = Stopwatch.StartNew();
            var body = await http.GetByteArrayAsync(call);
            watch.Stop();
            bytes = body.Length;
            if (i > 0)
            {
                times.Add(watch.Elapsed.TotalMilliseconds); // the first call warms up, and is not counted
            }
        }

        times.Sort();
        lines.Add($"| `{call.Replace(start, "<30 days ago>").Replace(hourStart, "<2 days ago>")}` | {bytes:N0} | {times[times.Count / 2]:F1} | {times[^1]:F1} |");
    }

    lines.Add("");
    lines.AddRange(await PageAsync(gateway, adminKey, rounds));
    lines.Add("");
    await File.AppendAllLinesAsync(output, lines);
    Console.WriteLine(string.Join('\n', lines));
    return 0;
}

// The page in Chromium: sign-in to every chart drawn, a filter change, and the main thread's long tasks meanwhile.
static async Task<IEnumerable<string>> PageAsync(Uri gateway, string adminKey, int rounds)
{
    using var playwright = await Playwright.CreateAsync();
    await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
    {
        ExecutablePath = "/usr/bin/chromium", Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"],
    });
    var loads = new List<double>();
    var applies = new List<double>();
    var blocking = new List<double>();
    var longest = new List<double>();
    for (var round = 0; round < rounds; round++)
    {
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        await page.GotoAsync(new Uri(gateway, "/admin").ToString());
        await page.EvaluateAsync("""
            () => { window.__long = []; new PerformanceObserver(l => window.__long.push(...l.getEntries().map(e => e.duration))).observe({ type: 'longtask', buffered: true }); }
            """);
        var watch = Stopwatch.StartNew();
        await page.FillAsync("#admin-key", adminKey);
        await page.PressAsync("#admin-key", "Enter");
        await LoadedAsync(page);
        loads.Add(watch.Elapsed.TotalMilliseconds);
        await page.EvaluateAsync("() => { delete document.body.dataset.loaded; }");
        watch.Restart();
        await page.SelectOptionAsync("#f-stack", "key");
        await page.ClickAsync("#filters button[type=submit]");
        await LoadedAsync(page);
        applies.Add(watch.Elapsed.TotalMilliseconds);
        var tasks = await page.EvaluateAsync<double[]>("() => window.__long");
        // Total blocking time: what each long task held the main thread beyond 50 ms.
        blocking.Add(tasks.Sum(t => Math.Max(0, t - 50)));
        longest.Add(tasks.DefaultIfEmpty(0).Max());
        await page.CloseAsync();
    }

    static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

    // The page answers with a message when a call fails: that message is the finding, not a timeout.
    static async Task LoadedAsync(IPage page)
    {
        try
        {
            await page.WaitForSelectorAsync("body[data-loaded=true]");
        }
        catch (TimeoutException)
        {
            throw new InvalidOperationException("The page did not finish loading; it says: " + await page.InnerTextAsync("#message"));
        }
    }
    return
    [
        "| page (Chromium, 1280x800) | median ms | max ms |",
        "|---|---|---|",
        $"| sign-in to every chart and table drawn | {Median(loads):F0} | {loads.Max():F0} |",
        $"| 'Stack by key' applied (6 calls, redrawn) | {Median(applies):F0} | {applies.Max():F0} |",
        $"| main thread blocked beyond 50 ms (total blocking time, both steps) | {Median(blocking):F0} | {blocking.Max():F0} |",
        $"| longest task | {Median(longest):F0} | {longest.Max():F0} |",
    ];
}
