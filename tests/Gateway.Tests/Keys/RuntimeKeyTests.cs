using System.ClientModel;
using System.Net;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using OpenAI;
using OpenAI.Chat;

namespace Gateway.Tests.Keys;

/// <summary>
/// Runtime keys on the embedded default (no Redis): create, use, show, update, rotate, revoke and expire through
/// <c>/admin/keys</c>, persisted in the data directory across a restart, audited without secrets. The gateway runs on
/// the test's clock, so expiry and grace periods pass when the test says so.
/// </summary>
public sealed class RuntimeKeyTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("gateway-keys-");
    private SimulatorHost _simulator = null!;
    private GatewayHost _gateway = null!;
    private RuntimeKeyApi _api = null!;

    public async Task InitializeAsync()
    {
        _simulator = await SimulatorHost.StartAsync();
        await StartGatewayAsync();
    }

    private async Task StartGatewayAsync()
    {
        _gateway = await GatewayHost.StartAsync(TestConfig.Standard(_simulator.BaseUrl), _directory, b => b.Services.AddSingleton<TimeProvider>(_clock));
        _gateway.KeepDirectory = true;
        _api = new RuntimeKeyApi(_gateway.BaseUrl, TestConfig.AdminKey);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _gateway.DisposeAsync();
        await _simulator.DisposeAsync();
        _directory.Delete(recursive: true);
    }

    [Fact]
    public async Task ACreatedKey_AnswersTheOfficialSdk_ShowsItsSecretOnce_AndSurvivesARestart()
    {
        var secret = await _api.CreateAsync("""{"name":"reports-bot","models":["deepinfra-llama"],"metadata":{"owner":"reports"}}""");
        Assert.StartsWith("sk-gw-", secret, StringComparison.Ordinal);

        var chat = new ChatClient("deepinfra-llama", new ApiKeyCredential(secret), new OpenAIClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1") });
        ChatCompletion answer = await chat.CompleteChatAsync([new UserChatMessage("Hello")]);
        Assert.False(string.IsNullOrEmpty(answer.Content[0].Text));
        // Only the models it was given.
        Assert.Equal((HttpStatusCode.NotFound, "model_not_found"), await _api.ChatAsync(secret, "hive-strict"));

        var (status, shown) = await _api.SendAsync(HttpMethod.Get, "/admin/keys/reports-bot");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.False(shown.TryGetProperty("key", out _));
        Assert.Equal(secret[..16], shown.GetProperty("prefix").GetString());
        Assert.Equal("active", shown.GetProperty("status").GetString());
        Assert.Equal("reports", shown.GetProperty("metadata").GetProperty("owner").GetString());
        Assert.NotEqual(JsonValueKindNull, shown.GetProperty("last_used_at").ValueKind);
        var (_, list) = await _api.SendAsync(HttpMethod.Get, "/admin/keys");
        Assert.Contains(list.GetProperty("data").EnumerateArray(), k => k.GetProperty("name").GetString() == "reports-bot" && k.GetProperty("source").GetString() == "runtime");
        Assert.Contains(list.GetProperty("data").EnumerateArray(), k => k.GetProperty("name").GetString() == "admin" && k.GetProperty("source").GetString() == "gateway.json");

        // Nothing the store or the audit trail keeps holds the secret.
        var stored = string.Join("\n", Directory.EnumerateFiles(_directory.FullName, "*", SearchOption.AllDirectories).Select(File.ReadAllText));
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret[17..], stored, StringComparison.Ordinal);
        var (_, audit) = await _api.SendAsync(HttpMethod.Get, "/admin/audit");
        var entry = audit.GetProperty("data").EnumerateArray().First();
        Assert.Equal(("admin", "create", "reports-bot"), (entry.GetProperty("admin").GetString(), entry.GetProperty("action").GetString(), entry.GetProperty("key").GetString()));
        Assert.DoesNotContain(secret, audit.ToString(), StringComparison.Ordinal);

        // A restart on the same data directory: the key still works.
        _api.Dispose();
        await _gateway.DisposeAsync();
        await StartGatewayAsync();
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));
    }

    private const System.Text.Json.JsonValueKind JsonValueKindNull = System.Text.Json.JsonValueKind.Null;

    [Fact]
    public async Task WhileAKeyIsRotated_ASecretThatStaysValid_IsNeverUnknownForAMoment()
    {
        // One secret is the key's current one, then its previous one (grace), then current again, 20,000 times over, while
        // another thread looks it up without pause: at no moment may the directory miss it (a request would get 401).
        await _api.CreateAsync("""{"name":"spinning-bot"}""");
        var runtime = _gateway.Services.GetRequiredService<Gateway.Keys.RuntimeKeys>();
        var snapshot = _gateway.Services.GetRequiredService<Gateway.Configuration.ConfigStore>().Current;
        var record = runtime.Records.Single(r => r.Name == "spinning-bot");
        var steady = record.Hash;
        var misses = 0L;
        var lookups = 0L;
        using var stop = new CancellationTokenSource();
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (key, refusal) = runtime.Find(steady, snapshot);
                Interlocked.Increment(ref lookups);
                if (key is null && refusal is null)
                {
                    Interlocked.Increment(ref misses);
                }
            }
        });

        var until = _clock.GetUtcNow().AddHours(1);
        for (var i = 1; i <= 20_000; i++)
        {
            var other = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)));
            record = i % 2 == 1
                ? record with { Hash = other, PreviousHash = steady, PreviousValidUntil = until, Revision = record.Revision + 1 }
                : record with { Hash = steady, PreviousHash = other, PreviousValidUntil = until, Revision = record.Revision + 1 };
            runtime.Apply(record);
        }

        await stop.CancelAsync();
        await reader;
        Assert.True(Interlocked.Read(ref lookups) > 1000, "the reader hardly ran");
        Assert.Equal(0, Interlocked.Read(ref misses));
    }

    [Fact]
    public async Task TheKeyDirectoryIsConfigurable_AndAnUnreadableKeyFileStopsTheStartWithWhatToDo()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-keydir-");
        try
        {
            // RuntimeKeys:Directory (not under Keys, which names client keys: "Keys:Directory" was read as a key named Directory).
            var elsewhere = Path.Combine(directory.FullName, "elsewhere");
            var config = TestConfig.Standard(_simulator.BaseUrl);
            config["RuntimeKeys"] = new System.Text.Json.Nodes.JsonObject { ["Directory"] = elsewhere };
            await using (var gateway = await GatewayHost.StartAsync(config, directory, _ => { }))
            {
                using var api = new RuntimeKeyApi(gateway.BaseUrl, TestConfig.AdminKey);
                await api.CreateAsync("""{"name":"kept-elsewhere"}""");
                gateway.KeepDirectory = true;
            }

            Assert.Contains("kept-elsewhere", await File.ReadAllTextAsync(Path.Combine(elsewhere, "keys.json")), StringComparison.Ordinal);

            // A damaged file is not started over (the next change would overwrite every key in it): the start stops and says what to do.
            await File.WriteAllTextAsync(Path.Combine(elsewhere, "keys.json"), """[{"id":""");
            var ex = await Assert.ThrowsAsync<Gateway.Configuration.GatewayConfigurationException>(() => GatewayHost.StartAsync(config, directory, _ => { }));
            Assert.Contains("keys.json cannot be read", ex.Message, StringComparison.Ordinal);
            Assert.Contains("Restore it from a backup", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task AnExpiredKey_IsRefusedWithAClearError()
    {
        var at = _clock.GetUtcNow().AddHours(1);
        var secret = await _api.CreateAsync($$"""{"name":"temp-bot","expires_at":"{{at:O}}"}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));

        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal((HttpStatusCode.Unauthorized, "key_expired"), await _api.ChatAsync(secret));
        var (_, shown) = await _api.SendAsync(HttpMethod.Get, "/admin/keys/temp-bot");
        Assert.Equal("expired", shown.GetProperty("status").GetString());
    }

    [Fact]
    public async Task ARotatedKey_WorksWithBothSecretsDuringTheGrace_ThenOnlyWithTheNewOne()
    {
        var old = await _api.CreateAsync("""{"name":"rotating-bot"}""");
        var fresh = await _api.RotateAsync("rotating-bot", graceSeconds: 60);
        Assert.Equal(old[..16], fresh[..16]);
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(old));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(fresh));

        _clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal((HttpStatusCode.Unauthorized, "key_rotated"), await _api.ChatAsync(old));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(fresh));
    }

    [Fact]
    public async Task ARevokedKey_IsRefused_AndItsLimitsAndUpdatesAreApplied()
    {
        var secret = await _api.CreateAsync("""{"name":"limited-bot","limits":{"requests_per_minute":1}}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _api.ChatAsync(secret)).Status);

        var (status, updated) = await _api.SendAsync(HttpMethod.Patch, "/admin/keys/limited-bot", """{"limits":{"requests_per_minute":100}}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(100, updated.GetProperty("limits").GetProperty("requests_per_minute").GetInt32());
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(secret));

        await _api.RevokeAsync("limited-bot");
        Assert.Equal((HttpStatusCode.Unauthorized, "key_revoked"), await _api.ChatAsync(secret));
    }

    [Fact]
    public async Task RuntimeKeys_AreStrangers_CountersUsageAndChangesStayWithTheirOwnKey()
    {
        // Two keys made side by side share the store, the replica's key directory and the limiter: nothing one does reaches the other.
        var noisy = await _api.CreateAsync("""{"name":"noisy-bot","limits":{"requests_per_minute":1}}""");
        var quiet = await _api.CreateAsync("""{"name":"quiet-bot","limits":{"requests_per_minute":1}}""");
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(noisy));
        Assert.Equal(HttpStatusCode.TooManyRequests, (await _api.ChatAsync(noisy)).Status);
        // The noisy key's spent rate is its own: the quiet key's first request is admitted.
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(quiet));

        // A key cannot manage keys, its own or another's.
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Delete, "/admin/keys/quiet-bot", key: noisy)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Post, "/admin/keys/quiet-bot/rotate", "{}", key: noisy)).Status);

        // Rotating and revoking one key leaves the other exactly as it was.
        await _api.RotateAsync("noisy-bot", graceSeconds: 0);
        await _api.RevokeAsync("noisy-bot");
        _clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal((HttpStatusCode.OK, null), await _api.ChatAsync(quiet));

        // Each key's own usage holds only its own requests.
        using var own = new HttpClient { BaseAddress = _gateway.BaseUrl };
        own.DefaultRequestHeaders.Authorization = new("Bearer", quiet);
        var body = "";
        await Eventually.TrueAsync(async () =>
        {
            using var usage = await own.GetAsync("/v1/usage?group_by=key");
            body = await usage.Content.ReadAsStringAsync();
            return usage.IsSuccessStatusCode
                && System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("totals").GetProperty("requests").GetInt64() == 2;
        }, TimeSpan.FromSeconds(10), "the quiet key's usage is not exactly its own two requests");
        Assert.Contains("quiet-bot", body, StringComparison.Ordinal);
        Assert.DoesNotContain("noisy-bot", body, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"name":"x","colour":"red"}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"x","models":["no-such-model"]}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"x","limits":{"requests_per_minute":-1}}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"x","budget":{"usd":5,"period":"week"}}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"x","expires_at":"2001-01-01T00:00:00Z"}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"no spaces"}""", HttpStatusCode.BadRequest, "invalid_key_request")]
    [InlineData("""{"name":"admin"}""", HttpStatusCode.Conflict, "key_conflict")]
    [InlineData("""[1,2]""", HttpStatusCode.BadRequest, "invalid_key_request")]
    public async Task BadRequests_AreClear4xx(string body, HttpStatusCode expected, string code)
    {
        var (status, answer) = await _api.SendAsync(HttpMethod.Post, "/admin/keys", body);
        Assert.Equal(expected, status);
        Assert.Equal(code, answer.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task OnlyAdminKeys_ManageKeys_AndANameIsTakenOnce()
    {
        var (status, _) = await _api.SendAsync(HttpMethod.Post, "/admin/keys", """{"name":"sneaky"}""", key: TestConfig.Key);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        await _api.CreateAsync("""{"name":"once"}""");
        Assert.Equal(HttpStatusCode.Conflict, (await _api.SendAsync(HttpMethod.Post, "/admin/keys", """{"name":"once"}""")).Status);
        // A runtime key is never an admin key, whatever it is given.
        var secret = await _api.CreateAsync("""{"name":"not-admin"}""");
        Assert.Equal(HttpStatusCode.Forbidden, (await _api.SendAsync(HttpMethod.Get, "/admin/keys", key: secret)).Status);
    }
}
