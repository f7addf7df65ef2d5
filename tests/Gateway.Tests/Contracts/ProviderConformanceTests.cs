using System.Text;
using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;

namespace Gateway.Tests.Contracts;

/// <summary>
/// One conformance check over every provider kind in <see cref="ProviderCatalog"/> (issue 20, item 9): its seed request,
/// translated from what an OpenAI client sends, carries exactly the seed's fields; its answer (the seed's, or the
/// stand-in the seeds' README names where a seed shows none) reads as a completion; its stream fixture, where it
/// streams, reads to the end; its error statuses classify as the fault they are. A kind added to the catalog without a
/// line in <see cref="Conformance"/> fails here, so a new provider is covered by adding its fixtures. The per-provider
/// contract tests (over WireMock) check the same exchanges byte for byte.
/// </summary>
public sealed class ProviderConformanceTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <param name="Request">The seed's request (under Fixtures/seeds).</param>
    /// <param name="Answer">A successful answer: the seed's, or the named stand-in (under Fixtures).</param>
    /// <param name="Stream">An SSE fixture, for kinds that stream.</param>
    /// <param name="Pass">Parameters the seed's request shows that the deployment must pass (none: the seed documents them).</param>
    private sealed record Kit(string Request, string Answer, string? Stream, string[] Pass);

    private static readonly Dictionary<string, Kit> Conformance = new(StringComparer.OrdinalIgnoreCase)
    {
        ["hive-v3"] = new("seeds/hive-v3.request.json", "completions/hive-v3-reasoning.json", "streams/hive-v3-unicode.sse", []),
        ["hive-v2"] = new("seeds/hive-v2.input.json", "seeds/hive-v2.result.json", null, []),
        ["deepinfra"] = new("seeds/deepinfra.request-1.json", "seeds/deepinfra.response-1.json", "seeds/deepinfra.stream.sse", []),
        ["segmind"] = new("seeds/segmind.request.json", "completions/segmind-no-usage.json", null, []),
    };

    public static TheoryData<string> Kinds() => [.. ProviderCatalog.Kinds.Order(StringComparer.Ordinal)];

    private static string Read(string path) => File.ReadAllText(Path.Combine(Fixtures, path));

    [Theory]
    [MemberData(nameof(Kinds))]
    public void EveryCatalogKind_MeetsItsSeed(string kind)
    {
        Assert.True(Conformance.TryGetValue(kind, out var kit), $"provider kind '{kind}' has no conformance fixtures: add a line to {nameof(Conformance)}");
        var provider = ProviderCatalog.Find(kind)!;
        var seed = JsonDocument.Parse(Read(kit.Request)).RootElement;
        var target = new DeploymentTarget
        {
            PublicModel = "m", UpstreamModel = seed.TryGetProperty("model", out var model) ? model.GetString()! : "llama-v3p1-70b-instruct",
            PassParameters = kit.Pass.ToHashSet(),
            // Hive V2's seed names its history roles (Bob, HPT): the deployment's options say so.
            Options = seed.TryGetProperty("options", out var o) && o.TryGetProperty("roles", out var roles)
                ? new Dictionary<string, string> { ["UserRole"] = roles.GetProperty("user").GetString()!, ["ModelRole"] = roles.GetProperty("model").GetString()! }
                : new Dictionary<string, string>(),
        };

        // 1. What an OpenAI client sends for the seed's request becomes exactly the seed's fields.
        var body = new System.Buffers.ArrayBufferWriter<byte>();
        var request = ToOpenAi(seed);
        var error = provider switch
        {
            IChatProvider chat => chat.WriteRequest(request, target, false, body),
            IAsyncTaskProvider task => task.WriteSubmit(request, target, "https://gateway.example/cb/x", body),
            _ => throw new InvalidOperationException($"{kind} is neither kind of provider"),
        };
        Assert.Null(error);
        var sent = JsonDocument.Parse(body.WrittenMemory).RootElement;
        Assert.Equal(Fields(seed, provider is IAsyncTaskProvider), Fields(sent, provider is IAsyncTaskProvider));

        // 2. A successful answer reads as a completion with text.
        var answer = Encoding.UTF8.GetBytes(Read(kit.Answer));
        string? text;
        if (provider is IChatProvider reader)
        {
            Assert.True(reader.TryReadCompletion(answer, out var completion));
            text = completion!.Choices![0].Message!.Content;
        }
        else
        {
            var state = ((IAsyncTaskProvider)provider).ReadTask(answer);
            Assert.Equal(TaskProgress.Finished, state.Status);
            text = state.Completion!.Choices![0].Message!.Content;
        }

        Assert.False(string.IsNullOrEmpty(text));

        // 3. A stream reads to its end, every event understood.
        if (provider is IChatProvider { SupportsStreaming: true } streaming)
        {
            Assert.NotNull(kit.Stream);
            var events = Read(kit.Stream!).Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
                .Select(e => string.Join("\n", e.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => l[5..].TrimStart())))
                .Where(d => d.Length > 0).Select(d => streaming.ReadStreamEvent(Encoding.UTF8.GetBytes(d))).ToList();
            Assert.DoesNotContain(events, e => e.Kind == StreamEventKind.Malformed);
            Assert.Contains(events, e => e.Kind == StreamEventKind.Chunk);
        }

        // 4. Failures are classified as the fault they are, whatever the body.
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(UpstreamErrorClass.RateLimited, provider.ReadError(429, [], _ => null, now).Class);
        Assert.Equal(UpstreamErrorClass.Transient, provider.ReadError(503, [], _ => null, now).Class);
        Assert.Equal(UpstreamErrorClass.Transient, provider.ReadError(500, [], _ => null, now).Class);
        Assert.Contains(provider.ReadError(401, [], _ => null, now).Class, new[] { UpstreamErrorClass.Credential });
    }

    /// <summary>The OpenAI request a client sends for the seed's (Hive V2's seed is its own shape: its conversation and parameters).</summary>
    private static ChatCompletionRequest ToOpenAi(JsonElement seed)
    {
        string json;
        if (seed.TryGetProperty("text_data", out var question))
        {
            var options = seed.GetProperty("options");
            var messages = new List<object> { new { role = "system", content = options.GetProperty("system_prompt").GetString() } };
            var userRole = options.GetProperty("roles").GetProperty("user").GetString();
            messages.AddRange(options.GetProperty("prompt_history").EnumerateArray()
                .Select(m => new { role = m.GetProperty("role").GetString() == userRole ? "user" : "assistant", content = m.GetProperty("content").GetString() }));
            messages.Add(new { role = "user", content = question.GetString() });
            json = JsonSerializer.Serialize(new
            {
                model = "m", messages, max_tokens = options.GetProperty("max_tokens").GetInt32(),
                temperature = options.TryGetProperty("temperature", out var t) ? t.GetDouble() : (double?)null,
                top_p = options.TryGetProperty("top_p", out var p) ? p.GetDouble() : (double?)null,
            });
        }
        else
        {
            json = seed.GetRawText();
            if (!seed.TryGetProperty("model", out _))
            {
                json = "{\"model\":\"m\"," + json.TrimStart()[1..];
            }
        }

        Assert.True(ChatRequestReader.TryRead(Encoding.UTF8.GetBytes(json), out var request, out var error), error?.Message);
        return request!;
    }

    /// <summary>The field names of a body (Hive V2: its options' names too, the callback URL being the gateway's own).</summary>
    private static List<string> Fields(JsonElement body, bool asyncTask)
    {
        var names = body.EnumerateObject().Select(p => p.Name).Where(n => !asyncTask || n != "callback_url").ToList();
        if (asyncTask && body.TryGetProperty("options", out var options))
        {
            names.AddRange(options.EnumerateObject().Select(p => "options." + p.Name));
        }

        return [.. names.Order(StringComparer.Ordinal)];
    }
}
