using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace Gateway.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser: Debian's headless Chromium driven by Playwright for .NET (its own browser download is
/// never used). A fresh gateway shows its empty state; traffic the test sends fills the charts and tables; filters,
/// the CSV export, a wrong key and a phone-width screen behave. Screenshots go to the test output directory.
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output) : IAsyncLifetime
{
    // Debian's package (apt-get install chromium); .ci/run installs it.
    private const string ChromiumPath = "/usr/bin/chromium";

    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: apt-get install chromium (the dashboard's browser test needs it).");
        _simulator = await SimulatorHost.StartAsync();
        var config = TestConfig.Standard(_simulator.BaseUrl);
        config["Models"]!["deepinfra-llama"]!["Cache"] = new JsonObject();
        config["Keys"]!["test"]!["Limits"] = new JsonObject { ["RequestsPerMinute"] = 1000, ["BudgetUsd"] = 10, ["BudgetPeriod"] = "day" };
        _gateway = await GatewayHost.StartAsync(config);
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    private async Task SendTrafficAsync()
    {
        using var http = new HttpClient { BaseAddress = _gateway.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.Key);
        foreach (var (model, prompt) in new[]
                 {
                     ("deepinfra-llama", "one"), ("deepinfra-llama", "one"), ("deepinfra-llama", "two"),
                     ("segmind-llama", "three"), ("segmind-llama", "four"), ("hive-llama", "five"),
                 })
        {
            // temperature 0 makes the deepinfra requests cacheable (its model has a Cache block); Segmind's document has no temperature.
            var body = new JsonObject { ["model"] = model, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }) };
            if (model == "deepinfra-llama")
            {
                body["temperature"] = 0;
            }

            using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
            Assert.True(response.IsSuccessStatusCode, $"{model}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        // Records are written off the request path: the page is asked only once all six are metered, so what it shows is
        // the whole traffic and not however much a busy machine had written by then.
        await Eventually.TrueAsync(async () =>
            JsonDocument.Parse(await http.GetStringAsync("/v1/usage")).RootElement.GetProperty("totals").GetProperty("requests").GetInt64() >= 6,
            TimeSpan.FromSeconds(30), "the six requests were not all metered");
    }

    private string Screenshot(string name)
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name);
        output.WriteLine($"screenshot: {path}");
        return path;
    }

    private async Task<IPage> SignedInPageAsync(IBrowserContext context)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(_gateway.BaseUrl, "/admin").ToString());
        await page.FillAsync("#admin-key", TestConfig.AdminKey);
        await page.PressAsync("#admin-key", "Enter");
        await page.WaitForSelectorAsync("body[data-loaded=true]");
        return page;
    }

    [Fact]
    public async Task Operator_SignsIn_SeesTrafficFillTheCharts_Filters_AndExportsCsv()
    {
        await using var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 1280, Height = 800 }, AcceptDownloads = true,
        });
        var page = await SignedInPageAsync(context);

        // A fresh gateway: the empty state says what to do, and no chart pretends to have data.
        Assert.True(await page.IsVisibleAsync("#empty"));
        Assert.Contains("No data", await page.InnerTextAsync("#spend-day"));

        await SendTrafficAsync();
        await page.ClickAsync("#filters button[type=submit]");
        await page.WaitForFunctionAsync("() => document.querySelector('#empty').hidden && document.querySelectorAll('.uplot canvas').length >= 4");
        Assert.Contains("6", await page.InnerTextAsync("#totals"));
        Assert.Contains("test", await page.InnerTextAsync("#keys-table"));
        Assert.Contains("deepinfra", await page.InnerTextAsync("#providers-table"));
        Assert.Contains("1", await page.InnerTextAsync("#cache-table"));
        var legend = await page.InnerTextAsync("#spend-day .u-legend");
        Assert.Contains("deepinfra-llama", legend);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("dashboard-1280x800.png"), FullPage = true });

        // Filter to one model: every table follows.
        await page.SelectOptionAsync("#f-model", "segmind-llama");
        await page.ClickAsync("#filters button[type=submit]");
        await page.WaitForFunctionAsync("() => !document.querySelector('#usage-source-table').innerText.includes('deepinfra')");
        var sources = await page.InnerTextAsync("#usage-source-table");
        Assert.Contains("segmind", sources);
        Assert.DoesNotContain("hive", sources);

        // The CSV export is the usage export, for the same filters.
        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("#download"));
        var csv = await File.ReadAllTextAsync((await download.PathAsync())!);
        var lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("day,key,model,provider,requests", lines[0]);
        Assert.All(lines.Skip(1), l => Assert.Contains(",segmind-llama,", l));
        Assert.Equal(2, lines.Skip(1).Sum(l => int.Parse(l.Split(',')[4], System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public async Task Operator_CreatesAKey_SeesItsSecretOnce_EditsRotatesAndRevokesIt()
    {
        await using var context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        var page = await SignedInPageAsync(context);
        using var api = new Keys.RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);
        var revealed = "#key-secret-value";

        // Create: the secret is shown once, works, and can be copied; the list names the key without it.
        await page.FillAsync("#k-name", "browser-bot");
        await page.FillAsync("#k-rpm", "100");
        await page.ClickAsync("#k-save");
        await page.WaitForSelectorAsync("#key-secret:not([hidden])");
        var secret = await page.InnerTextAsync(revealed);
        Assert.StartsWith("sk-gw-", secret, StringComparison.Ordinal);
        Assert.Equal((System.Net.HttpStatusCode.OK, null), await api.ChatAsync(secret));
        await TableShowsAsync(page, "browser-bot");
        Assert.DoesNotContain(secret, await page.InnerTextAsync("#runtime-keys-table"), StringComparison.Ordinal);
        await page.ClickAsync("#key-copy");
        Assert.Equal(secret, await page.EvaluateAsync<string>("navigator.clipboard.readText()"));

        // Edit its limits.
        await page.ClickAsync("button[data-action=edit][data-key=browser-bot]");
        await page.FillAsync("#k-rpm", "200");
        await page.ClickAsync("#k-save");
        await TableShowsAsync(page, "200 req/min");

        // Rotate without grace: a new secret; the old one is refused at once.
        await page.FillAsync("#k-grace", "0");
        await page.ClickAsync("button[data-action=rotate][data-key=browser-bot]");
        var fresh = secret;
        await Eventually.TrueAsync(async () => (fresh = await page.InnerTextAsync(revealed)) != secret, TimeSpan.FromSeconds(10), "no new secret was shown");
        Assert.Equal((System.Net.HttpStatusCode.Unauthorized, "key_rotated"), await api.ChatAsync(secret));
        Assert.Equal((System.Net.HttpStatusCode.OK, null), await api.ChatAsync(fresh));

        // Revoke takes a second click: the first alone changes nothing.
        await page.ClickAsync("button[data-action=revoke][data-key=browser-bot]");
        Assert.Equal((System.Net.HttpStatusCode.OK, null), await api.ChatAsync(fresh));
        await page.ClickAsync("button[data-action=revoke][data-key=browser-bot]");
        await TableShowsAsync(page, "revoked");
        // It was used on this replica, and says so (changes to it are not uses, and do not erase them).
        Assert.DoesNotContain("–", (await page.InnerTextAsync("#runtime-keys-table tbody")).Split('\t').Last());
        Assert.Equal((System.Net.HttpStatusCode.Unauthorized, "key_revoked"), await api.ChatAsync(fresh));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("dashboard-keys.png"), FullPage = true });
    }

    [Fact]
    public async Task Operator_CreatesATeam_PutsAKeyInIt_EditsItsLimits_AndCannotDeleteItWhileAKeyIsIn()
    {
        await using var context = await _browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 900 } });
        var page = await SignedInPageAsync(context);
        using var api = new Keys.RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);

        // A team with a budget, then a key that names it.
        await page.FillAsync("#t-name", "browser-team");
        await page.FillAsync("#t-rpm", "100");
        await page.FillAsync("#t-budget", "5");
        await page.SelectOptionAsync("#t-period", "day");
        await page.ClickAsync("#t-save");
        await TeamsShowAsync(page, "100 req/min");
        await page.FillAsync("#k-name", "browser-team-bot");
        await page.FillAsync("#k-team", "browser-team");
        await page.ClickAsync("#k-save");
        await page.WaitForSelectorAsync("#key-secret:not([hidden])");
        var secret = await page.InnerTextAsync("#key-secret-value");
        Assert.Equal((System.Net.HttpStatusCode.OK, null), await api.ChatAsync(secret));

        // The teams table lists the key, and the team's budget spent today once the page refreshes.
        await page.ClickAsync("#filters button[type=submit]");
        await TeamsShowAsync(page, "browser-team-bot");
        await TeamsShowAsync(page, "of $5.00");
        var (_, team) = await api.SendAsync(HttpMethod.Get, "/admin/teams/browser-team");
        Assert.True(team.GetProperty("counters").EnumerateArray().Single(c => c.GetProperty("kind").GetString() == "budget_micros_per_day").GetProperty("used").GetInt64() > 0);

        // Edit the team's limit: in force through the API too.
        await page.ClickAsync("button[data-action=edit-team][data-team=browser-team]");
        await page.FillAsync("#t-rpm", "250");
        await page.ClickAsync("#t-save");
        await TeamsShowAsync(page, "250 req/min");
        Assert.Equal(250, (await api.SendAsync(HttpMethod.Get, "/admin/teams/browser-team")).Body.GetProperty("limits").GetProperty("requests_per_minute").GetInt32());

        // Deleting a team with an active key is refused, and the page says why.
        await ConfirmAsync(page, "button[data-action=delete-team][data-team=browser-team]");
        await page.WaitForSelectorAsync("#message:not([hidden])");
        Assert.Contains("active key", await page.InnerTextAsync("#message"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("dashboard-teams.png"), FullPage = true });

        // Once the key has left the team, it goes.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await api.SendAsync(HttpMethod.Patch, "/admin/keys/browser-team-bot", """{"team":null}""")).Status);
        await page.ClickAsync("#filters button[type=submit]");
        // The refreshed table, not the one still on screen (which names the team too): a click on a button about to be
        // replaced armed that button only, and the second click met the new one.
        await page.Locator("#teams-table", new PageLocatorOptions { HasText = "browser-team", HasNotText = "browser-team-bot" })
            .WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });
        await ConfirmAsync(page, "button[data-action=delete-team][data-team=browser-team]");
        await page.Locator("#teams-table", new PageLocatorOptions { HasText = "No teams yet" }).WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });
    }

    /// <summary>
    /// Arms a confirm button and confirms on the same, armed one ("Click again…"). Should the table be drawn again between
    /// the two clicks (a refresh still arriving on a busy machine), the new button is not armed: the pair is tried again.
    /// A button that is gone after a try was confirmed by it.
    /// </summary>
    private static async Task ConfirmAsync(IPage page, string selector)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await page.ClickAsync(selector, new PageClickOptions { Timeout = 10_000 });
                await page.Locator(selector, new PageLocatorOptions { HasText = "Click again" }).ClickAsync(new LocatorClickOptions { Timeout = 10_000 });
                return;
            }
            catch (TimeoutException) when (attempt < 4)
            {
                if (await page.Locator(selector).CountAsync() == 0)
                {
                    return;
                }
            }
        }
    }

    private static Task TeamsShowAsync(IPage page, string text) =>
        page.Locator("#teams-table", new PageLocatorOptions { HasText = text }).WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });

    // (Locators, not WaitForFunction: the page's CSP allows no eval, which Playwright's polled functions need.)
    private static Task TableShowsAsync(IPage page, string text) =>
        page.Locator("#runtime-keys-table", new PageLocatorOptions { HasText = text }).WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });

    [Fact]
    public async Task AWrongKey_IsAMessage_NotABlankPage()
    {
        await using var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(_gateway.BaseUrl, "/admin").ToString());
        // A client key that is not an admin key.
        await page.FillAsync("#admin-key", TestConfig.Key);
        await page.PressAsync("#admin-key", "Enter");
        await page.WaitForSelectorAsync("#message:not([hidden])");
        Assert.Contains("refused", await page.InnerTextAsync("#message"));
        Assert.True(await page.IsVisibleAsync("#sign-in"));
        Assert.False(await page.IsVisibleAsync("#dashboard"));
        // Nothing of the key is left in the tab.
        Assert.Null(await page.EvaluateAsync<string?>("() => sessionStorage.getItem('gateway-admin-key')"));
    }

    [Fact]
    public async Task PhoneWidth_OneColumn_NothingWiderThanTheScreen_AndKeyboardReachesEveryControl()
    {
        await SendTrafficAsync();
        await using var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 390, Height = 844 }, IsMobile = true,
        });
        var page = await SignedInPageAsync(context);
        await page.WaitForFunctionAsync("() => document.querySelectorAll('.uplot canvas').length >= 4");
        // Wide tables scroll inside their own box; the page itself never scrolls sideways.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshot("dashboard-390-phone.png"), FullPage = true });

        // Tab order reaches the filters and both actions, each with a visible focus.
        var reached = new HashSet<string>();
        for (var i = 0; i < 40 && !reached.Contains("download"); i++)
        {
            await page.Keyboard.PressAsync("Tab");
            reached.Add(await page.EvaluateAsync<string>("() => document.activeElement.id || document.activeElement.tagName"));
        }

        Assert.Superset(new HashSet<string> { "f-start", "f-end", "f-key", "f-model", "f-provider", "f-stack", "download" }, reached);
    }
}
