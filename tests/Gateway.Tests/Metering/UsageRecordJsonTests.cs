using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gateway.Requests;

namespace Gateway.Tests.Metering;

/// <summary>
/// A usage record is a journal line and a Redis stream entry, read back by older and newer replicas alike. Its JSON is
/// written by the source generator's serializer (UsageJson); these pin that it is, byte for byte, the line the record's
/// shape defines: snake_case names in declaration order, false, zero and absent fields left out, the timestamp in UTC to
/// the millisecond (the line below pins that form). The reference is the reflection serializer with the same options,
/// which has no fast path to differ.
/// </summary>
public sealed class UsageRecordJsonTests
{
    private static readonly JsonSerializerOptions Reference = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
        TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
    };

    [Fact]
    public void KnownRecord_IsWrittenAsTheJournalsLine()
    {
        var record = new UsageRecord
        {
            Id = "01HZX-7", RequestId = "req_1", Key = "alice", KeyId = "k1", Model = "llama", Provider = "deepinfra",
            UpstreamModel = "meta/llama", PromptTokens = 12, CompletionTokens = 3, CostMicros = 42, Status = 200, Outcome = "ok",
            LatencyMs = 12.5, Timestamp = new DateTimeOffset(2026, 11, 30, 7, 6, 48, 884, TimeSpan.FromHours(2)),
        };

        Assert.Equal(
            "{\"id\":\"01HZX-7\",\"request_id\":\"req_1\",\"key\":\"alice\",\"key_id\":\"k1\",\"model\":\"llama\",\"provider\":\"deepinfra\"," +
            "\"upstream_model\":\"meta/llama\",\"prompt_tokens\":12,\"completion_tokens\":3,\"cost_micros\":42,\"status\":200,\"outcome\":\"ok\"," +
            "\"latency_ms\":12.5,\"timestamp\":\"2026-11-30T05:06:48.884Z\"}",
            JsonSerializer.Serialize(record, UsageJson.Default.UsageRecord));
        // The generated serializer is what a record's cost relies on (docs/performance.md, fourteenth round): it must exist,
        // and the options must hold no converter, or System.Text.Json leaves it unused.
        Assert.NotNull(UsageJson.Default.UsageRecord.SerializeHandler);
        Assert.Empty(UsageJson.Default.Options.Converters);
    }

    [Theory]
    [InlineData("2026-11-30T05:06:48.884Z")]
    [InlineData("2026-11-30T05:06:48.8841234+00:00")] // the default form, as journals before the compact one hold it
    [InlineData("2026-11-30T07:06:48.884+02:00")]
    public void TimestampsOfAnyIsoForm_AreRead(string text)
    {
        var line = $"{{\"id\":\"u\",\"request_id\":\"r\",\"key\":\"k\",\"model\":\"m\",\"outcome\":\"ok\",\"timestamp\":\"{text}\"}}";

        var record = JsonSerializer.Deserialize(line, UsageJson.Default.UsageRecord)!;

        Assert.Equal(new DateTimeOffset(2026, 11, 30, 5, 6, 48, 884, TimeSpan.Zero), Millis(record.Timestamp));
    }

    [Fact]
    public void UnreadableTimestamp_IsAJsonError_AsALineCutMidWriteIs()
    {
        // The journal skips lines that fail with JsonException; any other exception would stop its replay.
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize(
            "{\"id\":\"u\",\"request_id\":\"r\",\"key\":\"k\",\"model\":\"m\",\"outcome\":\"ok\",\"timestamp\":\"yesterday\"}",
            UsageJson.Default.UsageRecord));
    }

    [Fact]
    public void UnsetTimestamp_IsLeftOut_AsEveryDefaultIs()
    {
        var record = new UsageRecord { Id = "u", RequestId = "r", Key = "k", Model = "m", Outcome = "ok" };

        Assert.Equal("{\"id\":\"u\",\"request_id\":\"r\",\"key\":\"k\",\"model\":\"m\",\"outcome\":\"ok\"}",
            JsonSerializer.Serialize(record, UsageJson.Default.UsageRecord));
    }

    [Fact]
    public void TimestampText_IsTheFormatStringsText_ForAnyInstant()
    {
        var random = new Random(7);
        var instants = new List<DateTimeOffset>
        {
            DateTimeOffset.MinValue, DateTimeOffset.MaxValue, new(2026, 12, 31, 23, 59, 59, 999, TimeSpan.Zero),
            new(2027, 1, 1, 0, 0, 0, TimeSpan.Zero), new(2028, 2, 29, 12, 0, 0, 5, TimeSpan.FromHours(-11)),
        };
        for (var i = 0; i < 5_000; i++)
        {
            instants.Add(new DateTimeOffset(random.NextInt64(DateTime.MinValue.Ticks + TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay),
                TimeSpan.FromMinutes(random.Next(-14 * 60, 14 * 60 + 1))));
        }

        foreach (var instant in instants)
        {
            Assert.Equal(instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                UtcMilliseconds.Format(instant));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AnyRecord_IsWrittenAsTheReferenceWritesIt_AndReadsBackEqual(int seed)
    {
        var random = new Random(seed);
        for (var i = 0; i < 500; i++)
        {
            var record = RandomRecord(random);
            var written = JsonSerializer.Serialize(record, UsageJson.Default.UsageRecord);
            Assert.Equal(JsonSerializer.Serialize(record, Reference), written);

            // The journal's writer goes through Utf8JsonWriter over a buffer: the same bytes.
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                JsonSerializer.Serialize(writer, record, UsageJson.Default.UsageRecord);
            }

            Assert.Equal(written, Encoding.UTF8.GetString(buffer.ToArray()));
            var read = JsonSerializer.Deserialize(written, UsageJson.Default.UsageRecord)!;
            Assert.Equal(record with { Timestamp = Millis(record.Timestamp) }, read with { Timestamp = read.Timestamp.ToUniversalTime() });
        }
    }

    private static UsageRecord RandomRecord(Random random)
    {
        string? Maybe(string value) => random.Next(3) == 0 ? null : value + random.Next(1000);
        var stamp = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)
            .AddTicks((long)(random.NextDouble() * TimeSpan.TicksPerDay * 365))
            .ToOffset(TimeSpan.FromMinutes(random.Next(-12 * 60, 14 * 60 + 1) / 15 * 15));
        return new UsageRecord
        {
            Id = "id" + random.Next(), RequestId = "req_\"quoted\"\\" + random.Next(), Key = random.Next(4) == 0 ? UsageRecord.None : "key é " + random.Next(9),
            KeyId = Maybe("k"), Team = Maybe("team<>&"), Model = "model" + random.Next(5), Provider = Maybe("p"), UpstreamModel = Maybe("u/m"),
            PromptTokens = random.Next(3) == 0 ? 0 : random.Next(1, 100_000), CompletionTokens = random.Next(3) == 0 ? 0 : random.Next(1, 100_000),
            Estimated = random.Next(2) == 0, CostMicros = random.Next(3) == 0 ? 0 : random.NextInt64(1, 10_000_000_000),
            ProviderCostMicros = random.Next(3) == 0 ? null : random.NextInt64(0, 1_000_000), SavedMicros = random.Next(4) == 0 ? random.Next(1, 9999) : 0,
            Status = random.Next(4) == 0 ? 0 : 200 + random.Next(400), Outcome = random.Next(5) == 0 ? UsageRecord.CacheHitOutcome : "ok",
            Streamed = random.Next(2) == 0, LatencyMs = random.Next(3) == 0 ? 0 : Math.Round(random.NextDouble() * 10_000, random.Next(0, 4)),
            TimeToFirstTokenMs = random.Next(3) == 0 ? null : random.NextDouble() * 1000, Timestamp = stamp,
            Count = random.Next(3) == 0 ? null : random.Next(1, 50),
        };
    }

    private static DateTimeOffset Millis(DateTimeOffset t) =>
        new(t.UtcTicks - t.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
}
