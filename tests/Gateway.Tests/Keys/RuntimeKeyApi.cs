using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Gateway.Tests.Keys;

/// <summary>The admin API for runtime keys, as a script would call it: JSON in, status and JSON out.</summary>
public sealed class RuntimeKeyApi(Uri gateway, string adminKey) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = gateway, Timeout = TimeSpan.FromSeconds(30) };

    public async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? json = null, string? key = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", key ?? adminKey);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Creates a key; the answer's secret.</summary>
    public async Task<string> CreateAsync(string json)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/admin/keys", json);
        Assert.True(status == HttpStatusCode.Created, $"create answered {(int)status}: {body}");
        return body.GetProperty("key").GetString()!;
    }

    /// <summary>Creates a team; the answer.</summary>
    public async Task<JsonElement> CreateTeamAsync(string json)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/admin/teams", json);
        Assert.True(status == HttpStatusCode.Created, $"team create answered {(int)status}: {body}");
        return body;
    }

    public async Task<string> RotateAsync(string name, int graceSeconds)
    {
        var (status, body) = await SendAsync(HttpMethod.Post, $"/admin/keys/{name}/rotate", $$"""{"grace_seconds":{{graceSeconds}}}""");
        Assert.True(status == HttpStatusCode.OK, $"rotate answered {(int)status}: {body}");
        return body.GetProperty("key").GetString()!;
    }

    public async Task RevokeAsync(string name)
    {
        var (status, body) = await SendAsync(HttpMethod.Delete, $"/admin/keys/{name}");
        Assert.True(status == HttpStatusCode.OK, $"revoke answered {(int)status}: {body}");
    }

    /// <summary>A chat completion with <paramref name="key"/>: its status and, for an error, its code.</summary>
    public async Task<(HttpStatusCode Status, string? Code)> ChatAsync(string key, string model = "deepinfra-llama")
    {
        var (status, code, _) = await ChatWithMessageAsync(key, model);
        return (status, code);
    }

    /// <summary>A chat completion with <paramref name="key"/>: its status, and for an error its code and message.</summary>
    public async Task<(HttpStatusCode Status, string? Code, string? Message)> ChatWithMessageAsync(string key, string model = "deepinfra-llama")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model, messages = new[] { new { role = "user", content = "x" } } }),
        };
        request.Headers.Authorization = new("Bearer", key);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.IsSuccessStatusCode)
        {
            return (response.StatusCode, null, null);
        }

        var error = JsonDocument.Parse(text).RootElement.GetProperty("error");
        return (response.StatusCode, error.GetProperty("code").GetString(), error.GetProperty("message").GetString());
    }

    public void Dispose() => _http.Dispose();
}
