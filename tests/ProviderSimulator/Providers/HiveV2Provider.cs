using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace ProviderSimulator.Providers;

/// <summary>
/// Hive V2 async tasks (seed documents 000/002, PROVIDERS.md §3): submit to /api/v2/task/async (or v1)
/// with <c>Authorization: Token</c>; the answer carries the task id (top level <c>task_id</c>/<c>id</c>
/// and <c>status[0].task_id</c>); the finished task is POSTed to <c>callback_url</c> after
/// <c>callback_delay_ms</c>, retried on non-2xx with <c>callback_retry_count</c> counting, and can be
/// polled at GET /api/v2/task/{id}. Knobs (in text_data): callback=lost, callback_duplicates=N,
/// callback_delay_ms, callback_retry_ms, task_fail=1, task_error=1 (a top-level error, no final state), never_finish=1,
/// plus the common ones.
/// </summary>
public sealed class HiveV2Provider(RequestLog log, Func<Directives> runFaults, HiveV2Options options, IHttpClientFactory http)
{
    private const int MaxCallbackAttempts = 10;
    private readonly ConcurrentDictionary<string, SimTask> _tasks = new();
    private readonly ConcurrentQueue<CallbackAttempt> _callbacks = new();

    public IReadOnlyList<CallbackAttempt> Callbacks => [.. _callbacks];

    public async Task SubmitAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        var entry = log.Add("hive-v2", context.Request, body);
        if (context.Request.Headers.Authorization.ToString() != "Token " + options.ApiKey)
        {
            await Error(context, 403, "Forbidden: invalid API key");
            return;
        }

        JsonElement root;
        try
        {
            root = JsonDocument.Parse(body).RootElement.Clone();
        }
        catch (JsonException)
        {
            await Error(context, 400, "Invalid JSON");
            return;
        }

        var text = Str(root, "text_data");
        var callbackUrl = Str(root, "callback_url");
        var knobs = Directives.Parse(text).Over(runFaults()).For("hive-v2").AfterFailures(log.CountAttempt("hive-v2", context.Request));
        if (knobs.Int("latency_ms") is { } latency)
        {
            await Task.Delay(latency, context.RequestAborted);
        }

        if (knobs.Flag("reset"))
        {
            context.Abort();
            return;
        }

        if (knobs.Int("status") is { } status)
        {
            await Error(context, status, knobs.Text("error_message") ?? "simulated error");
            return;
        }

        var opts = root.TryGetProperty("options", out var o) ? o : default;
        var maxTokens = Num(opts, "max_tokens");
        if (text is null || callbackUrl is null)
        {
            await Error(context, 400, "text_data and callback_url are required");
            return;
        }

        if (maxTokens is < 1 or > 4096 || Num(opts, "temperature") is < 0 or > 1 || Num(opts, "top_p") is < 0 or > 1)
        {
            await Error(context, 400, "max_tokens must be 1..4096, temperature and top_p 0..1");
            return;
        }

        var promptTexts = new List<string> { text };
        if (Str(opts, "system_prompt") is { } system)
        {
            promptTexts.Add(system);
        }

        if (opts.ValueKind == JsonValueKind.Object && opts.TryGetProperty("prompt_history", out var history) && history.ValueKind == JsonValueKind.Array)
        {
            promptTexts.AddRange(history.EnumerateArray().Select(h => Str(h, "content") ?? ""));
        }

        var plan = ReplyPlan.For(promptTexts, text, (int?)maxTokens, knobs, stopReason: "finish");
        var id = Guid.NewGuid().ToString();
        var task = new SimTask(id, callbackUrl, plan, knobs, DateTimeOffset.UtcNow.AddMilliseconds(knobs.Int("callback_delay_ms") ?? 100));
        _tasks[id] = task;
        entry.Completed = true;

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["task_id"] = id,
            ["id"] = id,
            ["status"] = new[] { new Dictionary<string, object> { ["task_id"] = id } },
        }));

        if (knobs.Text("callback") != "lost" && !knobs.Flag("never_finish"))
        {
            _ = Task.Run(() => DeliverAsync(task));
        }
    }

    public async Task PollAsync(HttpContext context, string id)
    {
        log.Add("hive-v2", context.Request, "");
        if (context.Request.Headers.Authorization.ToString() != "Token " + options.ApiKey)
        {
            await Error(context, 403, "Forbidden: invalid API key");
            return;
        }

        if (!_tasks.TryGetValue(id, out var task))
        {
            await Error(context, 404, "task not found");
            return;
        }

        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(task.IsReady ? task.FinishedJson(0) : task.PendingJson());
    }

    private async Task DeliverAsync(SimTask task)
    {
        var delay = task.ReadyAt - DateTimeOffset.UtcNow;
        if (delay > TimeSpan.Zero)
        {
            await Task.Delay(delay);
        }

        var client = http.CreateClient("callbacks");
        var retryDelay = TimeSpan.FromMilliseconds(task.Knobs.Int("callback_retry_ms") ?? 200);
        var duplicates = task.Knobs.Int("callback_duplicates") ?? 0;
        var delivered = false;
        for (var attempt = 0; attempt < MaxCallbackAttempts && !delivered; attempt++)
        {
            delivered = await PostAsync(client, task, attempt);
            if (!delivered)
            {
                await Task.Delay(retryDelay);
            }
        }

        for (var i = 0; delivered && i < duplicates; i++)
        {
            await PostAsync(client, task, 0);
        }
    }

    private async Task<bool> PostAsync(HttpClient client, SimTask task, int retryCount)
    {
        int status;
        try
        {
            using var content = new ByteArrayContent(task.FinishedJson(retryCount));
            content.Headers.ContentType = new("application/json");
            using var response = await client.PostAsync(task.CallbackUrl, content);
            status = (int)response.StatusCode;
        }
        catch (HttpRequestException)
        {
            status = 0;
        }

        _callbacks.Enqueue(new CallbackAttempt(task.Id, task.CallbackUrl, retryCount, status, DateTimeOffset.UtcNow));
        return status is >= 200 and < 300;
    }

    private static Task Error(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object> { ["status_code"] = status, ["message"] = message }));
    }

    private static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static double? Num(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;

    public sealed record CallbackAttempt(string TaskId, string Url, int RetryCount, int Status, DateTimeOffset At);

    private sealed class SimTask(string id, string callbackUrl, ReplyPlan plan, Directives knobs, DateTimeOffset readyAt)
    {
        public string Id => id;
        public string CallbackUrl => callbackUrl;
        public Directives Knobs => knobs;
        public DateTimeOffset ReadyAt => readyAt;
        public bool IsReady => !knobs.Flag("never_finish") && DateTimeOffset.UtcNow >= readyAt;

        public byte[] PendingJson() => JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["task_id"] = id,
            ["state"] = "processing",
            ["status"] = Array.Empty<object>(),
        });

        /// <summary>The finished task in the shape of the seed document's sample.</summary>
        public byte[] FinishedJson(int retryCount)
        {
            var failed = knobs.Flag("task_fail");
            var charge = (plan.PromptTokens + plan.CompletionTokens) * 0.0000005m;
            var task = new Dictionary<string, object?>
            {
                ["task_id"] = id,
                ["created_on"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                ["task_units"] = plan.PromptTokens + plan.CompletionTokens,
                ["charge"] = charge,
                // task_error=1: the task carries a top-level error and no final state (the gateway must not wait for one).
                ["state"] = knobs.Flag("task_error") ? "processing" : "finished",
                ["callback_url"] = callbackUrl,
                ["callback_retry_count"] = retryCount,
                ["callback_status_code"] = retryCount > 0 ? 500 : 200,
                ["text_data"] = "",
                ["status"] = new object[]
                {
                    new Dictionary<string, object?>
                    {
                        ["_version"] = 2,
                        ["status"] = failed
                            ? new Dictionary<string, object> { ["code"] = "500", ["message"] = "MODEL_FAILURE" }
                            : new Dictionary<string, object> { ["code"] = "0", ["message"] = "SUCCESS" },
                        ["response"] = failed ? null : new Dictionary<string, object?>
                        {
                            ["input"] = new Dictionary<string, object> { ["id"] = id, ["model_type"] = "LARGE_LANGUAGE_MODEL" },
                            ["output"] = new object[]
                            {
                                new Dictionary<string, object?>
                                {
                                    ["task_units"] = plan.PromptTokens + plan.CompletionTokens,
                                    ["input_tokens"] = plan.PromptTokens,
                                    ["total_output_tokens"] = plan.CompletionTokens,
                                    ["total_tokens"] = plan.PromptTokens + plan.CompletionTokens,
                                    ["choices"] = new object[]
                                    {
                                        new Dictionary<string, object>
                                        {
                                            ["message"] = plan.Text,
                                            ["stop_reason"] = plan.FinishReason,
                                            ["output_tokens"] = plan.CompletionTokens,
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            };
            if (knobs.Flag("task_error"))
            {
                task["error"] = "MODEL_UNAVAILABLE: the model could not run this task";
            }

            return JsonSerializer.SerializeToUtf8Bytes(task);
        }
    }
}
