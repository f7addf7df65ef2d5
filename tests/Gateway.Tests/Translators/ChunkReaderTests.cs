using System.Text;
using Gateway.Translators.Contract;

namespace Gateway.Tests.Translators;

public sealed class ChunkReaderTests
{
    [Fact]
    public void Read_KeepsWhatTheGatewayUses_AndVendorDeltaFields()
    {
        var json = """
            {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp",
             "choices":[{"index":1,"delta":{"role":"assistant","content":"caf\u00e9","reasoning_content":"think","tool_calls":[{"index":0}]},
                         "logprobs":null,"finish_reason":null,"extra":{"deep":[1,2]}}],
             "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"estimated_cost":0.1}}
            """;

        Assert.True(ChunkReader.TryRead(Encoding.UTF8.GetBytes(json), out var chunk));
        var choice = Assert.Single(chunk!.Choices!);
        Assert.Equal(1, choice.Index);
        Assert.Equal(("assistant", "café"), (choice.Delta!.Role, choice.Delta.Content));
        Assert.Equal("think", choice.Delta.ExtensionData!["reasoning_content"].GetString());
        Assert.Equal(1, choice.Delta.ToolCalls!.Value.GetArrayLength());
        Assert.Null(choice.FinishReason);
        Assert.Null(choice.Logprobs);
        Assert.Equal((3, 4, 7), (chunk.Usage!.PromptTokens, chunk.Usage.CompletionTokens, chunk.Usage.TotalTokens));
        Assert.Equal(0.1, chunk.Usage.ExtensionData!["estimated_cost"].GetDouble());
        Assert.Equal("fp", chunk.SystemFingerprint);
    }

    [Theory]
    [InlineData("""{"choices":[{"index":0,"delta":{"content":"x"}}""")]
    [InlineData("""{"choices":{"index":0}}""")]
    [InlineData("""{"choices":[{"index":"zero"}]}""")]
    [InlineData("""{"choices":[{"delta":{"content":42}}]}""")]
    [InlineData("""[1,2]""")]
    [InlineData("""not json""")]
    [InlineData("")]
    public void Read_Malformed_IsRefused(string json) => Assert.False(ChunkReader.TryRead(Encoding.UTF8.GetBytes(json), out _));

    [Fact]
    public void Read_ErrorEvent_IsKept()
    {
        Assert.True(ChunkReader.TryRead("""{"error":{"message":"overloaded"}}"""u8, out var chunk));
        Assert.Equal("overloaded", chunk!.Error!.Value.GetProperty("message").GetString());
        Assert.Null(chunk.Choices);
    }
}
