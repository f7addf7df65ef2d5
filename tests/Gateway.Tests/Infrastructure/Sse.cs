using System.Text.Json;

namespace Gateway.Tests.Infrastructure;

/// <summary>Reads a client-side SSE body into its data payloads, checking the framing on the way.</summary>
public static class Sse
{
    public static List<string> DataLines(string body)
    {
        var events = body.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        var data = new List<string>();
        foreach (var e in events)
        {
            Assert.StartsWith("data: ", e);
            Assert.DoesNotContain("\nevent:", "\n" + e);
            data.Add(e["data: ".Length..]);
        }

        return data;
    }

    public static List<JsonElement> Chunks(string body) =>
        DataLines(body).Where(d => d != "[DONE]").Select(d => JsonDocument.Parse(d).RootElement.Clone()).ToList();

    public static async Task<(HttpResponseMessage Response, string Body)> PostAsync(HttpClient http, string json, string? requestId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        };
        if (requestId is not null)
        {
            request.Headers.Add("x-request-id", requestId);
        }

        var response = await http.SendAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    public static string NewRequestId() => "test-" + Guid.NewGuid().ToString("N");
}

/// <summary>
/// A streaming request read line by line as it arrives, on its own connection. Disposing it
/// closes the connection at once (no draining of the unread answer), as a client that leaves would.
/// </summary>
public sealed class OpenStream : IDisposable
{
    private readonly HttpClient _client;
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private OpenStream(HttpClient client, HttpResponseMessage response, StreamReader reader)
    {
        _client = client;
        _response = response;
        _reader = reader;
    }

    public static async Task<OpenStream> StartAsync(Uri gateway, string key, string json, string requestId)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = gateway };
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("x-request-id", requestId);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new OpenStream(client, response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    public Task<string?> ReadLineAsync() => _reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));

    public Task<string> ReadToEndAsync() => _reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));

    public void Dispose()
    {
        _reader.Dispose();
        _response.Dispose();
        _client.Dispose();
    }
}
