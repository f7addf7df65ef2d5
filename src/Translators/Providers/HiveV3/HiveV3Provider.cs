using Gateway.Translators.Providers.OpenAiCompatible;
using Gateway.Translators.Translation;

namespace Gateway.Translators.Providers.HiveV3;

/// <summary>
/// Hive's V3 chat completions (PROVIDERS.md §2): OpenAI-shaped, bearer key, text-only content, its own error
/// envelope <c>{"status_code","message"}</c>, 405 when the balance is exhausted. Seed 001 documents only
/// <c>model</c>, <c>max_tokens</c> (1..2048) and <c>messages</c>: <c>temperature</c>, <c>top_p</c> and the rest are
/// undocumented here (Hive's own docs accept temperature and top_p, with no range): a deployment passes them.
/// Streaming is taken from Hive's docs ([C]), not the seed.
/// </summary>
public sealed class HiveV3Provider : OpenAiCompatibleProvider
{
    public const string KindName = "hive-v3";

    private static readonly ParameterSupport Support = new()
    {
        Documented = new Dictionary<string, ParameterRange?>
        {
            ["max_tokens"] = new(1, 2048, ClampByDefault: true),
        },
    };

    private static readonly MessageRules Rules = new(ContentShape.TextParts, ToolMessages: false, ParticipantNames: false);

    public override string Kind => KindName;

    protected override ParameterSupport Parameters => Support;

    protected override MessageRules Messages => Rules;

    public override string RequestPath(DeploymentTarget target) => "/api/v3/chat/completions";

    protected override UpstreamErrorClass Classify(int status) => status switch
    {
        // Hive answers 405 when the account balance is exhausted, not for a wrong method.
        405 => UpstreamErrorClass.Quota,
        _ => base.Classify(status),
    };

    // Hive answers 400 for a model it does not serve [O] (its models are retired over time): that is the deployment's
    // configuration, not the client's request, so the next deployment may serve it. The seed gives no wording; any 400
    // whose message is about the model not being known or served counts.
    protected override UpstreamErrorClass Classify(int status, string message) =>
        status == 400 && RefusesModel(message) ? UpstreamErrorClass.Misconfigured : Classify(status);

    private static bool RefusesModel(string message) =>
        message.Contains("model", StringComparison.OrdinalIgnoreCase) &&
        (message.Contains("unknown", StringComparison.OrdinalIgnoreCase) || message.Contains("not supported", StringComparison.OrdinalIgnoreCase) ||
         message.Contains("unsupported", StringComparison.OrdinalIgnoreCase) || message.Contains("not found", StringComparison.OrdinalIgnoreCase) ||
         message.Contains("does not exist", StringComparison.OrdinalIgnoreCase) || message.Contains("not available", StringComparison.OrdinalIgnoreCase) ||
         message.Contains("retired", StringComparison.OrdinalIgnoreCase));
}
