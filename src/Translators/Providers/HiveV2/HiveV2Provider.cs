using System.Buffers;
using Gateway.Translators.Contract;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.HiveV2;

/// <summary>
/// Hive's legacy V2 text API (PROVIDERS.md §3): <c>Authorization: Token</c>, submit to
/// <c>/api/v2/task/async</c> with a callback URL, poll <c>/api/v2/task/{id}</c>. <c>max_tokens</c>
/// 1..4096, temperature and top_p 0..1; errors 400 (parameters), 403 (key), 429, 502.
/// </summary>
public sealed class HiveV2Provider : IAsyncTaskProvider
{
    public const string KindName = "hive-v2";

    private static readonly ParameterSupport Support = new()
    {
        // Seeds 000 and 002: max_tokens 1..4096, temperature and top_p 0..1, in "options".
        Documented = new Dictionary<string, ParameterRange?>
        {
            ["max_tokens"] = new(1, 4096, ClampByDefault: true),
            ["temperature"] = new(0, 1),
            ["top_p"] = new(0, 1),
        },
    };

    public string Kind => KindName;

    public string SubmitPath => "/api/v2/task/async";

    public string PollPath(string taskId) => "/api/v2/task/" + Uri.EscapeDataString(taskId);

    public (string Name, string Value) AuthHeader(string apiKey) => ("Authorization", "Token " + apiKey);

    public RequestError? WriteSubmit(ChatCompletionRequest request, DeploymentTarget target, string callbackUrl, IBufferWriter<byte> body)
    {
        var error = HiveV2Request.Check(request.Messages!, target.PublicModel);
        if (error is not null)
        {
            return error;
        }

        var gated = ParameterGate.Apply(request, Support, target, out error);
        if (error is not null)
        {
            return error;
        }

        HiveV2Request.Write(body, gated, target, callbackUrl);
        return null;
    }

    public string? ReadTaskId(ReadOnlySpan<byte> submitAnswer) => HiveV2Task.ReadTaskId(submitAnswer);

    public TaskState ReadTask(ReadOnlySpan<byte> task) => HiveV2Task.Read(task);

    public UpstreamError ReadError(int status, ReadOnlySpan<byte> body, Func<string, string?> header, DateTimeOffset now) =>
        new(StatusClasses.Default(status), status, ErrorBodies.ExtractMessage(body), RetryAfter.Read(header, now));

    public string MapFinishReason(string reason) => FinishReasons.Normalize(reason);

    public int? MaxCompletionTokens => 4096;

    public IReadOnlyList<string> DroppedParameters(ChatCompletionRequest request, DeploymentTarget target) =>
        ParameterGate.Dropped(request, Support, target);
}
