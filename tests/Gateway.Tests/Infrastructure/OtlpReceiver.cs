using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A minimal OTLP/HTTP collector on a free loopback port: takes <c>POST /v1/traces</c> (protobuf, as the
/// .NET exporter sends it) and keeps every span it decodes, so tests read what really left the gateway.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri BaseUrl => new(_app.Urls.First());

    public IReadOnlyList<ReceivedSpan> Spans => [.. _spans];

    public int MetricExports { get; private set; }

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls=http://127.0.0.1:0"]);
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in OtlpTraces.Decode(body.ToArray()))
            {
                receiver._spans.Enqueue(span);
            }

            context.Response.ContentType = "application/x-protobuf";
        });
        app.MapPost("/v1/metrics", () =>
        {
            receiver.MetricExports++;
            return Results.Empty;
        });
        await app.StartAsync();
        return receiver;
    }

    public async Task<List<ReceivedSpan>> WaitForTraceAsync(string traceId, Func<List<ReceivedSpan>, bool> complete)
    {
        List<ReceivedSpan> trace = [];
        await Eventually.TrueAsync(() =>
        {
            trace = Spans.Where(s => s.TraceId == traceId).ToList();
            return Task.FromResult(complete(trace));
        }, TimeSpan.FromSeconds(20), $"the spans of trace {traceId} did not arrive; got: {string.Join(", ", Spans.Select(s => s.Name))}");
        return trace;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record ReceivedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, int Kind, string Scope,
    Dictionary<string, object?> Attributes)
{
    public object? this[string attribute] => Attributes.GetValueOrDefault(attribute);
}

/// <summary>Reads OTLP trace protobuf (opentelemetry/proto/trace/v1/trace.proto) by field number: only what tests look at.</summary>
public static class OtlpTraces
{
    public static IEnumerable<ReceivedSpan> Decode(byte[] request)
    {
        foreach (var resourceSpans in Protobuf.Messages(request, 1))
        {
            foreach (var scopeSpans in Protobuf.Messages(resourceSpans, 2))
            {
                var scope = Protobuf.Messages(scopeSpans, 1).Select(s => Protobuf.String(s, 1)).FirstOrDefault() ?? "";
                foreach (var span in Protobuf.Messages(scopeSpans, 2))
                {
                    yield return new ReceivedSpan(
                        Convert.ToHexStringLower(Protobuf.Bytes(span, 1)),
                        Convert.ToHexStringLower(Protobuf.Bytes(span, 2)),
                        Convert.ToHexStringLower(Protobuf.Bytes(span, 4)),
                        Protobuf.String(span, 5) ?? "",
                        (int)Protobuf.Varint(span, 6),
                        scope,
                        Protobuf.Messages(span, 9).ToDictionary(kv => Protobuf.String(kv, 1)!, kv => AnyValue(Protobuf.Messages(kv, 2).FirstOrDefault())));
                }
            }
        }
    }

    private static object? AnyValue(ReadOnlyMemory<byte> value)
    {
        foreach (var f in Protobuf.Fields(value))
        {
            return f.Number switch
            {
                1 => System.Text.Encoding.UTF8.GetString(f.Bytes.Span),
                2 => f.Varint != 0,
                3 => (long)f.Varint,
                4 => BitConverter.Int64BitsToDouble((long)f.Varint),
                _ => null,
            };
        }

        return null;
    }
}

/// <summary>The protobuf wire format: varints, 64/32-bit fixed values and length-delimited fields.</summary>
public static class Protobuf
{
    public readonly record struct Field(int Number, int WireType, ulong Varint, ReadOnlyMemory<byte> Bytes);

    public static IEnumerable<Field> Fields(ReadOnlyMemory<byte> message)
    {
        var i = 0;
        while (i < message.Length)
        {
            var key = ReadVarint(message.Span, ref i);
            var number = (int)(key >> 3);
            var wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    yield return new Field(number, wire, ReadVarint(message.Span, ref i), default);
                    break;
                case 1:
                    yield return new Field(number, wire, BitConverter.ToUInt64(message.Span.Slice(i, 8)), default);
                    i += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message.Span, ref i);
                    yield return new Field(number, wire, 0, message.Slice(i, length));
                    i += length;
                    break;
                case 5:
                    yield return new Field(number, wire, BitConverter.ToUInt32(message.Span.Slice(i, 4)), default);
                    i += 4;
                    break;
                default:
                    throw new FormatException($"unsupported wire type {wire}");
            }
        }
    }

    public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int number) =>
        Fields(message).Where(f => f.Number == number && f.WireType == 2).Select(f => f.Bytes);

    public static byte[] Bytes(ReadOnlyMemory<byte> message, int number) =>
        Messages(message, number).Select(m => m.ToArray()).FirstOrDefault() ?? [];

    public static string? String(ReadOnlyMemory<byte> message, int number) =>
        Messages(message, number).Select(m => System.Text.Encoding.UTF8.GetString(m.Span)).FirstOrDefault();

    public static ulong Varint(ReadOnlyMemory<byte> message, int number) =>
        Fields(message).Where(f => f.Number == number && f.WireType == 0).Select(f => f.Varint).FirstOrDefault();

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[i++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
