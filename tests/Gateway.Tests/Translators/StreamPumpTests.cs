using System.Text;
using Gateway.Streaming;
using Gateway.Translators.Contract;
using Gateway.Translators.Providers;
using Gateway.Translators.Translation;
using Gateway.Configuration;

namespace Gateway.Tests.Translators;

/// <summary>The stream pump's clocks: the provider's silence, the client's slowness and the stream's length are told apart.</summary>
public sealed class StreamPumpTests
{
    private static readonly IChatProvider DeepInfra = (IChatProvider)ProviderCatalog.Find("deepinfra")!;

    private static string Chunk(string text) =>
        $$"""data: {"choices":[{"index":0,"delta":{"content":"{{text}}"},"finish_reason":null}]}""" + "\n\n";

    private static MemoryStream Sse(params string[] events) => new(Encoding.UTF8.GetBytes(string.Concat(events)));

    [Fact]
    public async Task SlowClient_IsNotAProviderTimeout()
    {
        var upstream = Sse(Chunk("a"), Chunk("b"), Chunk("c"), "data: [DONE]\n\n");
        var slowClient = new SlowSink(TimeSpan.FromMilliseconds(300));

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, slowClient, new StreamLimits(TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(1)),
            CancellationToken.None);

        Assert.Equal(StreamEnd.Completed, end);
        Assert.Equal(3, slowClient.Chunks);
    }

    [Fact]
    public async Task LivelyButEndlessStream_StopsAtTheTotalLimit()
    {
        var upstream = new DrippingStream(Encoding.UTF8.GetBytes(Chunk("more")), TimeSpan.FromMilliseconds(20));

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, new StreamCollector(), new StreamLimits(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(400)),
            CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(StreamEnd.TooLong, end);
    }

    [Fact]
    public async Task CollectedAnswer_IsCappedLikeAWholeAnswer()
    {
        var big = new string('x', 8 * 1024 * 1024);
        var upstream = Sse(Chunk(big), Chunk(big), Chunk(big), Chunk(big), Chunk(big), "data: [DONE]\n\n");

        var (end, _) = await StreamPump.RunAsync(upstream, DeepInfra, new StreamCollector(), new StreamLimits(TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1)),
            CancellationToken.None);

        Assert.Equal(StreamEnd.TooLarge, end);
    }

    private sealed class SlowSink(TimeSpan perChunk) : IChunkSink
    {
        public int Chunks { get; private set; }

        public bool ClientResponseStarted => Chunks > 0;

        public async ValueTask WriteChunkAsync(ChatCompletionChunk chunk, CancellationToken cancellationToken)
        {
            await Task.Delay(perChunk, cancellationToken);
            Chunks++;
        }
    }

    /// <summary>Gives the same event again and again, a little apart, forever.</summary>
    private sealed class DrippingStream(byte[] sseEvent, TimeSpan every) : Stream
    {
        private int _offset;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset == 0)
            {
                await Task.Delay(every, cancellationToken);
            }

            var count = Math.Min(buffer.Length, sseEvent.Length - _offset);
            sseEvent.AsMemory(_offset, count).CopyTo(buffer);
            _offset = (_offset + count) % sseEvent.Length;
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
