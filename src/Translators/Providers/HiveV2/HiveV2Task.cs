using System.Text.Json;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.HiveV2;

/// <summary>
/// Reads Hive V2 task objects (submit answers, callbacks, poll answers; seed document 002):
/// <c>status[0].status.code</c> "0" is success; the answer is <c>status[0].response.output[0]</c>,
/// whose <c>choices[i].message</c> is a string; <c>charge</c> is in USD.
/// </summary>
internal static class HiveV2Task
{
    // Anything beyond these is not a real task (a V2 answer is at most 4,096 tokens after a 32,768-token prompt): a callback
    // claiming more, or a negative count or charge, would only inflate or credit a key's usage and budget.
    private const int MaxTokens = 1_000_000;
    private const double MaxChargeUsd = 100;

    public static string? ReadTaskId(ReadOnlySpan<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            var root = doc.RootElement;
            return String(root, "task_id") ?? String(root, "id")
                ?? (root.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.Array && status.GetArrayLength() > 0
                    ? String(status[0], "task_id")
                    : null);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static TaskState Read(ReadOnlySpan<byte> body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body.ToArray());
            return Read(doc.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            return TaskState.Unreadable;
        }
    }

    private static TaskState Read(JsonElement root)
    {
        var taskId = String(root, "task_id") ?? String(root, "id");
        var state = String(root, "state");
        long? charge = null;
        if (root.TryGetProperty("charge", out var c) && c.ValueKind == JsonValueKind.Number)
        {
            var usd = c.GetDouble();
            if (usd is < 0 or > MaxChargeUsd || double.IsNaN(usd))
            {
                return TaskState.Unreadable;
            }

            charge = (long)Math.Round(usd * 1_000_000, MidpointRounding.AwayFromZero);
        }

        var first = root.TryGetProperty("status", out var statuses) && statuses.ValueKind == JsonValueKind.Array && statuses.GetArrayLength() > 0
            ? statuses[0]
            : default;
        // The seed's sample has the string "0"; a number is accepted too.
        var code = first.ValueKind == JsonValueKind.Object && first.TryGetProperty("status", out var s) ? Code(s) : null;
        var message = first.ValueKind == JsonValueKind.Object && first.TryGetProperty("status", out s) ? String(s, "message") : null;

        // A task whose top-level error is set has failed, whatever else it says: waiting longer would only run into the timeout.
        if (TopLevelError(root) is { } error)
        {
            return new TaskState(TaskProgress.Failed, taskId, FailureMessage: error, ChargeMicros: charge);
        }

        if (state is "failed" or "error")
        {
            return new TaskState(TaskProgress.Failed, taskId, FailureMessage: message ?? $"task {state}", ChargeMicros: charge);
        }

        if (code == "0" && first.TryGetProperty("response", out var response) && response.TryGetProperty("output", out var outputs)
            && outputs.ValueKind == JsonValueKind.Array && outputs.GetArrayLength() > 0)
        {
            var completion = ToCompletion(outputs[0]);
            return completion is null ? TaskState.Unreadable : new TaskState(TaskProgress.Finished, taskId, completion, ChargeMicros: charge);
        }

        // A finished task whose status code is not "0" (SUCCESS) failed.
        if (state is "finished" or "completed" && code is not null && code != "0")
        {
            return new TaskState(TaskProgress.Failed, taskId, FailureMessage: $"{message ?? "task failed"} (code {code})", ChargeMicros: charge);
        }

        return new TaskState(TaskProgress.Pending, taskId);
    }

    /// <summary>The task's top-level <c>error</c> as text, when it is set (a non-empty string, or an object or array).</summary>
    private static string? TopLevelError(JsonElement root)
    {
        if (!root.TryGetProperty("error", out var error))
        {
            return null;
        }

        return error.ValueKind switch
        {
            JsonValueKind.String when error.GetString() is { Length: > 0 } text => text,
            JsonValueKind.Object => String(error, "message") ?? error.GetRawText(),
            JsonValueKind.Array when error.GetArrayLength() > 0 => error.GetRawText(),
            JsonValueKind.True => "task error",
            _ => null,
        };
    }

    private static ChatCompletion? ToCompletion(JsonElement output)
    {
        foreach (var name in (string[])["input_tokens", "total_output_tokens", "total_tokens"])
        {
            if (output.TryGetProperty(name, out var v) && (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var n) || n is < 0 or > MaxTokens))
            {
                return null;
            }
        }

        var choices = new List<CompletionChoice>();
        var outputTokens = 0;
        foreach (var choice in output.GetProperty("choices").EnumerateArray())
        {
            var message = choice.GetProperty("message");
            choices.Add(new CompletionChoice
            {
                Index = choices.Count,
                Message = new ResponseMessage
                {
                    Role = "assistant",
                    // V2 gives the message as a plain string; tolerate an OpenAI-style object too.
                    Content = message.ValueKind == JsonValueKind.String ? message.GetString() : String(message, "content"),
                },
                FinishReason = String(choice, "stop_reason"),
            });
            var tokens = Int(choice, "output_tokens") ?? 0;
            if (tokens is < 0 or > MaxTokens)
            {
                return null;
            }

            outputTokens += tokens;
        }

        var input = Int(output, "input_tokens");
        var completionTokens = Int(output, "total_output_tokens") ?? outputTokens;
        return new ChatCompletion
        {
            Choices = choices,
            Usage = input is null ? null : new Usage
            {
                PromptTokens = input.Value,
                CompletionTokens = completionTokens,
                TotalTokens = Int(output, "total_tokens") ?? input.Value + completionTokens,
            },
        };
    }

    private static string? Code(JsonElement status) =>
        status.ValueKind == JsonValueKind.Object && status.TryGetProperty("code", out var v)
            ? v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Number => v.GetRawText(),
                _ => null,
            }
            : null;

    private static string? String(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int? Int(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;
}
