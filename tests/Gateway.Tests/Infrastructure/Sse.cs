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
