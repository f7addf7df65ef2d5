using Gateway.Requests;
using System.Text;
using Gateway.Caching;
using Gateway.Configuration;
using Gateway.Forwarding;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Tests.Caching;

/// <summary>The cache's rules on their own: what makes two requests the same, which may be cached, how a replay is cut.</summary>
public sealed class CacheRulesTests
{
    private static readonly CachePolicy PerKey = new(true, TimeSpan.FromMinutes(5), 1 << 20, Shared: false, CacheSampled: false, CacheTools: false);

    private static ChatCompletionRequest Read(string json)
    {
        Assert.True(ChatRequestReader.TryRead(Encoding.UTF8.GetBytes(json), out var request, out var error), error?.Message);
        return request!;
    }

    private static string KeyOf(string json, string keyName = "alice", CachePolicy? policy = null, byte[]? secret = null)
    {
        var key = new ClientKey(keyName, secret ?? System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("sk-" + keyName)),
            new HashSet<string> { "*" });
        var route = new ModelRoute("m", "test", 0, []);
        return CacheKey.For(Infrastructure.Exchanges.New("r", key, Read(json), route), policy ?? PerKey);
    }

    [Fact]
    public void FieldOrderWhitespaceEscapesAndDeliveryFields_DoNotChangeTheKey()
    {
        var a = KeyOf("""{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(a, KeyOf("""{ "messages": [ { "content": "h\u0069", "role": "user" } ], "model": "m", "temperature": 0.0 }"""));
        Assert.Equal(a, KeyOf("""{"model":"m","temperature":0,"stream":true,"stream_options":{"include_usage":true},"user":"u1","messages":[{"role":"user","content":"hi"}]}"""));
    }

    [Fact]
    public void WhatCanChangeTheAnswer_ChangesTheKey()
    {
        var a = KeyOf("""{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.NotEqual(a, KeyOf("""{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi!"}]}"""));
        Assert.NotEqual(a, KeyOf("""{"model":"m","temperature":0,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"""));
        Assert.NotEqual(a, KeyOf("""{"model":"m","temperature":0,"messages":[{"role":"system","content":"hi"}]}"""));
        Assert.NotEqual(a, KeyOf("""{"model":"m","temperature":0,"response_format":{"type":"json_object"},"messages":[{"role":"user","content":"hi"}]}"""));
    }

    [Fact]
    public void KeyScope_SeparatesKeys_SharedScopeDoesNot()
    {
        const string json = """{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}""";
        Assert.NotEqual(KeyOf(json, "alice"), KeyOf(json, "bob"));
        var shared = PerKey with { Shared = true };
        Assert.Equal(KeyOf(json, "alice", shared), KeyOf(json, "bob", shared));
        Assert.NotEqual(KeyOf(json, "alice", shared), KeyOf(json, "alice"));
        // The scope is the key's identity, not its name: a name reused for another secret (a new tenant) shares nothing.
        Assert.NotEqual(KeyOf(json, "alice"), KeyOf(json, "alice", secret: new byte[32]));
    }

    [Theory]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0}""", null)]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0.2,"seed":1}""", null)]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}]}""", "sampled_without_seed")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":1}""", "sampled_without_seed")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"n":2}""", "n_above_1")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"tools":[{"type":"function","function":{"name":"f"}}]}""", "tools")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":0,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}""", null)]
    public void Repeatability_FollowsTheDocumentedRules(string json, string? reason)
    {
        Assert.Equal(reason, Repeatability.WhyNot(Read(json), PerKey));
    }

    [Fact]
    public void Repeatability_ThePolicyMayCacheSamplingAndTools()
    {
        var lenient = PerKey with { CacheSampled = true, CacheTools = true };
        Assert.Null(Repeatability.WhyNot(Read("""{"model":"m","messages":[{"role":"user","content":"x"}],"n":3}"""), lenient));
        Assert.Null(Repeatability.WhyNot(Read("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}]}"""), lenient));
    }

    [Theory]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("a fairly long sentence that goes on and on, well past one piece of the replay, and then some more words at the end.")]
    [InlineData("nospacesatallinthisverylongwordthatkeepsgoingwellpastthepiecelengthofthereplayforsure")]
    [InlineData("emoji at the cut 0123456789012345678901234567890123456789012😀😀😀 and after")]
    public void ReplayPieces_AddUpToTheText_AndNeverSplitACharacter(string text)
    {
        var pieces = CacheReplay.Pieces(text).ToList();
        Assert.Equal(text, string.Concat(pieces));
        Assert.All(pieces, p => Assert.False(char.IsLowSurrogate(p[0]), "a piece starts inside a surrogate pair"));
        Assert.All(pieces, p => Assert.True(p.Length > 0));
    }

    [Fact]
    public void ReplayChunks_RoleContentToolCallsThenFinish()
    {
        var completion = new ChatCompletion
        {
            Choices =
            [
                new CompletionChoice
                {
                    Index = 0, FinishReason = "tool_calls",
                    Message = new ResponseMessage
                    {
                        Role = "assistant", Content = "calling",
                        ToolCalls = System.Text.Json.JsonDocument.Parse("""[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]""").RootElement,
                    },
                },
            ],
        };
        var chunks = CacheReplay.ToChunks(completion).Select(c => c.Choices![0]).ToList();
        Assert.Equal("assistant", chunks[0].Delta!.Role);
        Assert.Equal("calling", chunks[1].Delta!.Content);
        Assert.Equal(0, chunks[2].Delta!.ToolCalls!.Value[0].GetProperty("index").GetInt32());
        Assert.Equal("c1", chunks[2].Delta!.ToolCalls!.Value[0].GetProperty("id").GetString());
        Assert.Equal("tool_calls", chunks[3].FinishReason);
        Assert.Equal(4, chunks.Count);
    }

    [Fact]
    public void Configuration_KeyBlockOverridesModelBlock_AndBadFieldsAreNamed()
    {
        var errors = new List<string>();
        var settings = ResponseCacheSettings.Compile(new ResponseCacheOptions { TtlSeconds = 60 }, errors);
        var model = CachePolicy.Block.Compile(new CachePolicyOptions { Scope = "shared", TtlSeconds = 30 }, "Models:m:Cache", errors);
        var optOut = CachePolicy.Block.Compile(new CachePolicyOptions { Enabled = false }, "Keys:k:Cache", errors);
        var ownTtl = CachePolicy.Block.Compile(new CachePolicyOptions { TtlSeconds = 5 }, "Keys:k:Cache", errors);
        Assert.Empty(errors);

        Assert.Null(settings.For(null, null));
        Assert.Equal((true, TimeSpan.FromSeconds(30)), (settings.For(model, null)!.Shared, settings.For(model, null)!.Ttl));
        Assert.Null(settings.For(model, optOut));
        Assert.Equal((true, TimeSpan.FromSeconds(5)), (settings.For(model, ownTtl)!.Shared, settings.For(model, ownTtl)!.Ttl));
        Assert.Equal(TimeSpan.FromSeconds(60), settings.For(null, CachePolicy.Block.Compile(new CachePolicyOptions(), "Keys:k:Cache", errors))!.Ttl);

        CachePolicy.Block.Compile(new CachePolicyOptions { Scope = "everyone", TtlSeconds = 0, MaxEntryBytes = -1 }, "Models:x:Cache", errors);
        Assert.Contains(errors, e => e.StartsWith("Models:x:Cache:Scope", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Models:x:Cache:TtlSeconds", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Models:x:Cache:MaxEntryBytes", StringComparison.Ordinal));
    }
}
