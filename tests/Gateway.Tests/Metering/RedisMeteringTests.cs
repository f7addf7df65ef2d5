using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Metering;
using Gateway.Redis;
using Gateway.Tests.Infrastructure;
using Gateway.Translators.Translation;
using Microsoft.Extensions.Logging.Abstractions;
using OpenAI.Chat;
using Gateway.Requests;

namespace Gateway.Tests.Metering;

/// <summary>Usage in Redis: exact under concurrency across replicas, idempotent, bounded, and whole after an outage.</summary>
public sealed class RedisMeteringTests : SimulatorAndRedisTests
{
    private JsonObject Config(string prefix)
    {
        var config = TestConfig.Standard(Simulator.BaseUrl);
        config["Redis"] = new JsonObject { ["Configuration"] = Redis.Configuration, ["KeyPrefix"] = prefix, ["CommandTimeoutMilliseconds"] = 300 };
        return config;
    }

    // The stores' own connection, with time to spare: these tests check what the scripts decide, and a busy host's first
    // script load can take longer than the gateway's 500 ms default (as RedisEngineTests allows for).
    private StackExchange.Redis.ConnectionMultiplexer ConnectRedis() =>
        RedisConnection.Connect(new Gateway.Configuration.RedisOptions { Configuration = Redis.Configuration, CommandTimeoutMilliseconds = 10_000 },
            NullLogger.Instance);

    /// <summary>A record of key <paramref name="key"/> (id "id-" + key): one completion token and 3 micro-dollars each.</summary>
    private static UsageRecord Record(string key, string model, int prompt) => new()
    {
        Id = UsageRecords.NewId(), RequestId = "r", Key = key, KeyId = "id-" + key, Model = model, Provider = "p", PromptTokens = prompt,
        CompletionTokens = 1, CostMicros = 3, Status = 200, Outcome = "ok", Timestamp = DateTimeOffset.UtcNow,
    };

    private static async Task<JsonElement> TotalsAsync(Uri gateway, string query, long expectedRequests)
    {
        using var admin = new HttpClient { BaseAddress = gateway };
        admin.DefaultRequestHeaders.Authorization = new("Bearer", TestConfig.AdminKey);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        JsonElement root;
        do
        {
            await Task.Delay(100);
            var response = await admin.GetAsync("/admin/usage?" + query);
            if (!response.IsSuccessStatusCode)
            {
                // 503 while the store reconnects.
                Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
                root = default;
                continue;
            }

            root = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        }
        while ((root.ValueKind == JsonValueKind.Undefined || root.GetProperty("totals").GetProperty("requests").GetInt64() < expectedRequests)
               && DateTime.UtcNow < deadline);

        return root;
    }

    [Fact]
    public async Task KnownMix_ThroughTwoReplicas_TotalsAreExact()
    {
        var directory = Directory.CreateTempSubdirectory("gateway-metering-");
        var path = Path.Combine(directory.FullName, "gateway.json");
        await File.WriteAllTextAsync(path, Config("mix:").ToJsonString());
        await using var a = GatewayProcess.Start(path);
        await using var b = GatewayProcess.Start(path);
        var replicas = new[] { await a.WaitUntilListeningAsync(), await b.WaitUntilListeningAsync() };

        // (model, stream, count): reported usage from Hive and DeepInfra, estimated from Segmind.
        var mix = new (string Model, bool Stream, int Count)[]
        {
            ("deepinfra-llama", false, 60), ("deepinfra-llama", true, 40), ("hive-llama", false, 30), ("hive-llama", true, 30),
            ("segmind-llama", false, 25), ("segmind-llama", true, 15),
        };
        var calls = mix.SelectMany(m => Enumerable.Repeat(m, m.Count)).Select((m, i) => (m.Model, m.Stream, Replica: replicas[i % 2])).ToList();
        await Parallel.ForEachAsync(calls, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (call, _) =>
        {
            var chat = new ChatClient(call.Model, new System.ClientModel.ApiKeyCredential(TestConfig.Key),
                new OpenAI.OpenAIClientOptions { Endpoint = new Uri(call.Replica, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });
            if (call.Stream)
            {
                await foreach (var unused in chat.CompleteChatStreamingAsync([new UserChatMessage("a b c")]))
                {
                }
            }
            else
            {
                await chat.CompleteChatAsync([new UserChatMessage("a b c")]);
            }
        });

        // Simulator words: 3 prompt, 4 completion ("echo: a b c"). Segmind is billed on the cl100k tokenizer's count
        // (MeteringTests.ProviderWithoutUsage_IsEstimatedAndLabelled): 10 prompt, 5 completion.
        var segPrompt = 10;
        var segCompletion = 5;
        long Cost(long p, long c) => ((p * 1_500_000) + (c * 2_000_000) + 500_000) / 1_000_000;
        var reported = 160;
        var estimated = 40;
        var root = await TotalsAsync(replicas[0], "group_by=provider", 200);
        var totals = root.GetProperty("totals");
        Assert.Equal(200, totals.GetProperty("requests").GetInt64());
        Assert.Equal(0, totals.GetProperty("failed_requests").GetInt64());
        Assert.Equal(estimated, totals.GetProperty("estimated_requests").GetInt64());
        Assert.Equal((reported * 3) + (estimated * segPrompt), totals.GetProperty("prompt_tokens").GetInt64());
        Assert.Equal((reported * 4) + (estimated * segCompletion), totals.GetProperty("completion_tokens").GetInt64());
        Assert.Equal((reported * Cost(3, 4)) + (estimated * Cost(segPrompt, segCompletion)), totals.GetProperty("cost_micros").GetInt64());
        var byProvider = root.GetProperty("data").EnumerateArray().ToDictionary(r => r.GetProperty("provider").GetString()!, r => r.GetProperty("requests").GetInt64());
        Assert.Equal(new Dictionary<string, long> { ["deepinfra"] = 100, ["hive"] = 60, ["segmind"] = 40 }, byProvider);
        Assert.Equal("200", await Redis.CliAsync("XLEN", "mix:{usage}:events"));
    }

    [Fact]
    public async Task SameRecordWrittenTwice_CountsOnce()
    {
        using var connection = ConnectRedis();
        var redis = new RedisStore(connection, "idem:");
        var store = new RedisUsageStore(redis, new MeteringSettings());
        var record = new UsageRecord
        {
            Id = UsageRecords.NewId(), RequestId = "r1", Key = "k", Model = "m", Provider = "p", PromptTokens = 5, CompletionTokens = 7,
            CostMicros = 11, Status = 200, Outcome = "ok", Timestamp = DateTimeOffset.UtcNow,
        };

        await store.WriteAsync([record], CancellationToken.None);
        await store.WriteAsync([record, record], CancellationToken.None);

        var cells = await ((IUsageStore)store).ReadAllAsync([record.Day]);
        var totals = Assert.Single(cells).Totals;
        Assert.Equal((1, 5, 7, 11), (totals.Requests, totals.PromptTokens, totals.CompletionTokens, totals.CostMicros));
        Assert.Equal("1", await Redis.CliAsync("XLEN", "idem:{usage}:events"));
    }

    [Fact]
    public async Task RetriedBatch_WithNewRecords_CountsEachRecordOnce()
    {
        // A batch retried after a partial failure holds records taken before and new ones: the sums the gateway sends are
        // then set aside, and only the new records count (the path where the script sums for itself).
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "retry:"), new MeteringSettings());
        var (a, b, c) = (Record("k", "m1", 5), Record("k", "m1", 7), Record("k", "m2", 11));

        await store.WriteAsync([a], CancellationToken.None);
        await store.WriteAsync([a, b, c], CancellationToken.None);
        await store.WriteAsync([a, b, c], CancellationToken.None);

        foreach (var scope in new[] { UsageScope.Everyone, new UsageScope("id-k", "k") })
        {
            var cells = (await ((IUsageStore)store).ReadAllAsync([a.Day], scope)).ToDictionary(x => x.Key.Model, x => x.Totals);
            Assert.Equal((2, 12, 2, 6), (cells["m1"].Requests, cells["m1"].PromptTokens, cells["m1"].CompletionTokens, cells["m1"].CostMicros));
            Assert.Equal((1, 11, 1, 3), (cells["m2"].Requests, cells["m2"].PromptTokens, cells["m2"].CompletionTokens, cells["m2"].CostMicros));
        }

        Assert.Equal("3", await Redis.CliAsync("XLEN", "retry:{usage}:events"));
    }

    [Fact]
    public async Task RecordTwiceInOneFreshBatch_CountsOnce_AndTheOthersStillCount()
    {
        // The script backs a batch out whole when one of its records was taken, the markers it set in that call included,
        // and the writer sends the rest again: here the taken record is the batch's own first copy of it.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "dup:"), new MeteringSettings());
        var (x, y) = (Record("k", "m", 5), Record("k", "m", 7));

        await store.WriteAsync([x, y, x], CancellationToken.None);

        var cell = Assert.Single(await ((IUsageStore)store).ReadAllAsync([x.Day]));
        Assert.Equal((2, 12), (cell.Totals.Requests, cell.Totals.PromptTokens));
        Assert.Equal("2", await Redis.CliAsync("XLEN", "dup:{usage}:events"));
        // One marker per record taken, none left over from the call that was backed out: the two are bits of their
        // bucket's bitmap (consecutive ids of one process share one unless a hundred falls between them).
        Assert.True(RecordIds.Bucket(x.Id, out var xBucket, out var xPlace) & RecordIds.Bucket(y.Id, out var yBucket, out var yPlace));
        Assert.Equal("1", await Redis.CliAsync("GETBIT", $"dup:{{usage}}:seen100:{xBucket}", $"{xPlace}"));
        Assert.Equal("1", await Redis.CliAsync("GETBIT", $"dup:{{usage}}:seen100:{yBucket}", $"{yPlace}"));
        Assert.Equal(xBucket == yBucket ? "2" : "1", await Redis.CliAsync("BITCOUNT", $"dup:{{usage}}:seen100:{xBucket}"));
    }

    [Fact]
    public async Task SeenMarkers_AreABitEachInABitmapPerHundredRecords_AndStillCountEachRecordOnce()
    {
        // A marker key per record cost ~140 bytes of Redis memory for 7 days (0.85 GB at 10 requests a second): records of
        // one process fall in buckets of 100 ids, and a bucket's markers are one 13-byte bitmap that lives as long as a
        // marker.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "bkt:"), new MeteringSettings());
        var records = Enumerable.Range(0, 250).Select(_ => Record("k", "m", 1)).ToArray();

        await store.WriteAsync(records[..150], CancellationToken.None);
        // The second batch repeats 50 of the first (a replayed spill) and brings 100 new.
        await store.WriteAsync(records[100..], CancellationToken.None);

        var cell = Assert.Single(await ((IUsageStore)store).ReadAllAsync([records[0].Day]));
        Assert.Equal((250, 250), (cell.Totals.Requests, cell.Totals.PromptTokens));
        var buckets = records.Select(r => RecordIds.Bucket(r.Id, out var bucket, out _) ? bucket : throw new InvalidOperationException(r.Id)).Distinct().ToList();
        // 250 ids taken one after another span three or four buckets, a few more if other tests of this process take ids
        // meanwhile: far fewer than a key per record.
        Assert.InRange(buckets.Count, 3, 10);
        var markerKeys = (await Redis.CliAsync("--scan", "--pattern", "bkt:{usage}:seen*")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(buckets.Select(b => "bkt:{usage}:seen100:" + b).Order(), markerKeys.Order());
        var marked = 0L;
        foreach (var key in markerKeys)
        {
            marked += long.Parse(await Redis.CliAsync("BITCOUNT", key), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(long.Parse(await Redis.CliAsync("TTL", key), System.Globalization.CultureInfo.InvariantCulture), 6 * 86_400, 7 * 86_400);
        }

        Assert.Equal(250, marked);
    }

    [Fact]
    public async Task ABucketSharedByTwoKeys_OneKeysReplayBacksOutOnlyItsOwnCall_AndTheOthersMarkersStay()
    {
        // The markers of 100 consecutive ids share one bitmap, whatever keys the records belong to. A batch backed out
        // because one key's record was taken before clears only the bits that call set: another key's markers in the same
        // bitmap stay, so that key's own replayed record still counts once.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "shared:"), new MeteringSettings());
        UsageRecord a1, b1;
        do
        {
            (a1, b1) = (Record("a", "m", 1), Record("b", "m", 10));
        }
        while (!(RecordIds.Bucket(a1.Id, out var bucketA, out _) && RecordIds.Bucket(b1.Id, out var bucketB, out _) && bucketA == bucketB));

        var (a2, b2) = (Record("a", "m", 100), Record("b", "m", 1000));

        await store.WriteAsync([a1, b1], CancellationToken.None);
        // a's spill replayed beside new records of both keys: the first call is backed out, the second writes the new two.
        await store.WriteAsync([a1, b2, a2], CancellationToken.None);
        // b's spill replayed too.
        await store.WriteAsync([b1], CancellationToken.None);

        var a = Assert.Single(await ((IUsageStore)store).ReadAllAsync([a1.Day], new UsageScope("id-a", "a")));
        var b = Assert.Single(await ((IUsageStore)store).ReadAllAsync([a1.Day], new UsageScope("id-b", "b")));
        Assert.Equal((2, 101), (a.Totals.Requests, a.Totals.PromptTokens));
        Assert.Equal((2, 1010), (b.Totals.Requests, b.Totals.PromptTokens));
        Assert.Equal("4", await Redis.CliAsync("XLEN", "shared:{usage}:events"));
    }

    [Fact]
    public async Task RecordOfAnEarlierRelease_KeepsItsMarkerKey_SoBothReleasesSeeTheSameMarker()
    {
        // A spill written by the release before this one replays records with its ids (32 hex digits), whose marker that
        // release may have set already: such a record is counted once against that key, and marks that key, not a bucket.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "old:"), new MeteringSettings());
        var written = Record("k", "m", 5) with { Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) };
        var fresh = Record("k", "m", 7) with { Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) };
        Assert.False(RecordIds.Bucket(written.Id, out _, out _));
        // The earlier release wrote the first already (its marker is there; its sums are not part of this test).
        await Redis.CliAsync("SET", $"old:{{usage}}:seen:{written.Id}", "1", "EX", "604800");

        await store.WriteAsync([written, fresh, Record("k", "m", 11)], CancellationToken.None);

        var cell = Assert.Single(await ((IUsageStore)store).ReadAllAsync([fresh.Day]));
        Assert.Equal((2, 18), (cell.Totals.Requests, cell.Totals.PromptTokens));
        Assert.InRange(long.Parse(await Redis.CliAsync("TTL", $"old:{{usage}}:seen:{fresh.Id}"), System.Globalization.CultureInfo.InvariantCulture),
            6 * 86_400, 7 * 86_400);
    }

    [Fact]
    public async Task OneBatchOfTwoKeys_EachKeysOwnViewHoldsOnlyItsOwn()
    {
        // The gateway sums a batch before the script applies it: two keys' records in one batch (same model, same hour)
        // must still land in each key's own hashes apart, and together only in the shared ones.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "two:"), new MeteringSettings());
        var batch = new[] { Record("a", "m", 5), Record("b", "m", 7), Record("a", "m", 11) };

        await store.WriteAsync(batch, CancellationToken.None);

        var a = Assert.Single(await ((IUsageStore)store).ReadAllAsync([batch[0].Day], new UsageScope("id-a", "a")));
        var b = Assert.Single(await ((IUsageStore)store).ReadAllAsync([batch[0].Day], new UsageScope("id-b", "b")));
        Assert.Equal(("a", 2, 16), (a.Key.Key, a.Totals.Requests, a.Totals.PromptTokens));
        Assert.Equal(("b", 1, 7), (b.Key.Key, b.Totals.Requests, b.Totals.PromptTokens));
        var all = (await ((IUsageStore)store).ReadAllAsync([batch[0].Day])).ToDictionary(c => c.Key.Key, c => c.Totals.PromptTokens);
        Assert.Equal(new Dictionary<string, long> { ["a"] = 16, ["b"] = 7 }, all);

        // The hour's hashes too (the writer names each day's and hour's hashes once per batch, per key).
        var aHour = Assert.Single(await ((IUsageStore)store).ReadAllAsync([batch[0].Hour], new UsageScope("id-a", "a")));
        var bHour = Assert.Single(await ((IUsageStore)store).ReadAllAsync([batch[0].Hour], new UsageScope("id-b", "b")));
        Assert.Equal(("a", 2, 16), (aHour.Key.Key, aHour.Totals.Requests, aHour.Totals.PromptTokens));
        Assert.Equal(("b", 1, 7), (bHour.Key.Key, bHour.Totals.Requests, bHour.Totals.PromptTokens));
    }

    [Fact]
    public async Task OneBatch_NameReusedByAnotherKey_EachKeysOwnViewHoldsOnlyItsOwn()
    {
        // A key deleted and its name given to a new key: both can have records in one batch. Their cells have the same name
        // (cells name keys by name), so only the own hash (by key identity) keeps the new key from seeing the old one's usage.
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "reuse:"), new MeteringSettings());
        var old = Record("k", "m", 5) with { KeyId = "id-old" };
        var reused = Record("k", "m", 7) with { KeyId = "id-new" };

        await store.WriteAsync([old, reused, old with { Id = UsageRecords.NewId() }], CancellationToken.None);

        var oldView = Assert.Single(await ((IUsageStore)store).ReadAllAsync([old.Day], new UsageScope("id-old", "k")));
        var newView = Assert.Single(await ((IUsageStore)store).ReadAllAsync([old.Day], new UsageScope("id-new", "k")));
        Assert.Equal((2, 10), (oldView.Totals.Requests, oldView.Totals.PromptTokens));
        Assert.Equal((1, 7), (newView.Totals.Requests, newView.Totals.PromptTokens));
        var hourView = Assert.Single(await ((IUsageStore)store).ReadAllAsync([old.Hour], new UsageScope("id-new", "k")));
        Assert.Equal((1, 7), (hourView.Totals.Requests, hourView.Totals.PromptTokens));
        // Everyone's view sums them under the one name.
        var all = Assert.Single(await ((IUsageStore)store).ReadAllAsync([old.Day]));
        Assert.Equal((3, 17), (all.Totals.Requests, all.Totals.PromptTokens));
    }

    [Fact]
    public async Task OneBatch_HashesHoldTheLiteralFieldsAndSums_ForNamesBeyondAscii_TeamsAndEveryCounter()
    {
        // The writer sends hash and field names as UTF-8 bytes it makes itself (RedisStore.ByteKey, BatchSums) and sums a
        // batch per cell: the hashes must hold exactly the names and sums the layout gives (RedisUsageStore's header).
        using var connection = ConnectRedis();
        var store = new RedisUsageStore(new RedisStore(connection, "lay:"), new MeteringSettings());
        var ten = new DateTimeOffset(2026, 12, 7, 10, 30, 0, TimeSpan.Zero);
        UsageRecord Made(string key, string? keyId, string model, string? provider, string? team, DateTimeOffset at) => new()
        {
            Id = UsageRecords.NewId(), RequestId = "r", Key = key, KeyId = keyId, Model = model, Provider = provider, Team = team,
            Status = 200, Outcome = "ok", Timestamp = at,
        };

        const string own = "id-\u00fc";
        UsageRecord[] batch =
        [
            Made("\u043a\u043b\u044e\u0447", own, "\u6a21\u578b-\u00e9", "p", "\u00e9quipe", ten) with { PromptTokens = 5, CompletionTokens = 2, CostMicros = 7, ProviderCostMicros = 3 },
            Made("k2", null, "m", null, null, ten) with { PromptTokens = 2, CompletionTokens = 3, CostMicros = 4 },
            Made("\u043a\u043b\u044e\u0447", own, "\u6a21\u578b-\u00e9", "p", "\u00e9quipe", ten) with { PromptTokens = 1, Estimated = true, Status = 500, Outcome = "error" },
            Made("k2", null, "m", null, null, ten) with { Count = 4, Status = 429, Outcome = "refused" },
            Made("\u043a\u043b\u044e\u0447", own, "\u6a21\u578b-\u00e9", "p", "\u00e9quipe", ten.AddHours(-1)) with { Outcome = UsageRecord.CacheHitOutcome, SavedMicros = 11 },
        ];

        await store.WriteAsync(batch, CancellationToken.None);

        const string a = "\u043a\u043b\u044e\u0447\u001f\u6a21\u578b-\u00e9\u001fp\u001f\u00e9quipe\u001f";
        const string b = "k2\u001fm\u001f-\u001f";
        var aTen = new Dictionary<string, long>
        {
            [a + "requests"] = 2, [a + "failed_requests"] = 1, [a + "estimated_requests"] = 1, [a + "prompt_tokens"] = 6,
            [a + "completion_tokens"] = 2, [a + "cost_micros"] = 7, [a + "provider_cost_micros"] = 3,
        };
        var aNine = new Dictionary<string, long> { [a + "requests"] = 1, [a + "cache_hits"] = 1, [a + "saved_micros"] = 11 };
        var bTen = new Dictionary<string, long>
        {
            [b + "requests"] = 5, [b + "failed_requests"] = 4, [b + "prompt_tokens"] = 2, [b + "completion_tokens"] = 3, [b + "cost_micros"] = 4,
        };
        var aDay = new Dictionary<string, long>(aTen) { [a + "requests"] = 3, [a + "cache_hits"] = 1, [a + "saved_micros"] = 11 };
        var expected = new Dictionary<string, Dictionary<string, long>>
        {
            ["lay:{usage}:day:2026-12-07"] = new(aDay.Concat(bTen)),
            ["lay:{usage}:hour:2026-12-07T10"] = new(aTen.Concat(bTen)),
            ["lay:{usage}:hour:2026-12-07T09"] = aNine,
            ["lay:{usage}:kday:2026-12-07:" + own] = aDay,
            ["lay:{usage}:khour:2026-12-07T10:" + own] = aTen,
            ["lay:{usage}:khour:2026-12-07T09:" + own] = aNine,
            ["lay:{usage}:kday:2026-12-07:-"] = bTen,
            ["lay:{usage}:khour:2026-12-07T10:-"] = bTen,
        };
        var db = connection.GetDatabase();
        foreach (var (hash, fields) in expected)
        {
            var held = (await db.HashGetAllAsync(hash)).ToDictionary(e => (string)e.Name!, e => (long)e.Value);
            Assert.Equal(fields.OrderBy(f => f.Key, StringComparer.Ordinal), held.OrderBy(f => f.Key, StringComparer.Ordinal));
        }

        Assert.Equal(5, (int)await db.StreamLengthAsync("lay:{usage}:events"));
        var read = Assert.Single(await ((IUsageStore)store).ReadAllAsync(["2026-12-07"], new UsageScope(own, "\u043a\u043b\u044e\u0447")));
        Assert.Equal(("\u6a21\u578b-\u00e9", "\u00e9quipe", 3L, 6L, 11L), (read.Key.Model, read.Key.Team, read.Totals.Requests, read.Totals.PromptTokens, read.Totals.SavedMicros));
    }

    [Fact]
    public async Task EventStream_IsCappedInLength()
    {
        using var connection = ConnectRedis();
        var redis = new RedisStore(connection, "cap:");
        var store = new RedisUsageStore(redis, new MeteringSettings { StreamMaxLength = 100 });
        for (var i = 0; i < 10; i++)
        {
            var batch = Enumerable.Range(0, 100).Select(_ => new UsageRecord
            {
                Id = UsageRecords.NewId(), RequestId = "r", Key = "k", Model = "m", Status = 200, Outcome = "ok", Timestamp = DateTimeOffset.UtcNow,
            }).ToList();
            await store.WriteAsync(batch, CancellationToken.None);
        }

        // MAXLEN ~ trims whole nodes: the stream stays near the cap, far below the 1,000 written.
        Assert.InRange(long.Parse(await Redis.CliAsync("XLEN", "cap:{usage}:events"), System.Globalization.CultureInfo.InvariantCulture), 100, 300);
    }

    [Fact]
    public async Task RedisStoppedMidLoad_TotalsExactAfterItReturns()
    {
        await using var gateway = await GatewayHost.StartAsync(Config("outage:"));
        var chat = gateway.Chat("deepinfra-llama");
        async Task LoadAsync(int count) => await Parallel.ForEachAsync(Enumerable.Range(0, count),
            new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) => await chat.CompleteChatAsync([new UserChatMessage("a b c")]));

        await LoadAsync(40);
        // An orderly stop keeps what Redis had (as its own persistence would); what comes during the outage is ours to keep.
        await Redis.StopAsync(save: true);
        await LoadAsync(60);
        // Records are written in the background: those of the outage end up in the spill journal.
        await Eventually.TrueAsync(() => Task.FromResult(Directory.EnumerateFiles(gateway.JournalDirectory, "spill*.jsonl").Any()),
            because: "records waited in the spill journal");
        await Redis.RestartAsync();
        await LoadAsync(20);

        var totals = (await TotalsAsync(gateway.BaseUrl, "group_by=model", 120)).GetProperty("totals");
        Assert.Equal(120, totals.GetProperty("requests").GetInt64());
        Assert.Equal(120 * 3, totals.GetProperty("prompt_tokens").GetInt64());
        Assert.Equal(120 * 4, totals.GetProperty("completion_tokens").GetInt64());
        Assert.Equal(120 * 13, totals.GetProperty("cost_micros").GetInt64());
        Assert.Equal("120", await Redis.CliAsync("XLEN", "outage:{usage}:events"));
        await Task.Delay(1500);
        Assert.Equal(120, (await TotalsAsync(gateway.BaseUrl, "group_by=model", 120)).GetProperty("totals").GetProperty("requests").GetInt64());
    }
}
