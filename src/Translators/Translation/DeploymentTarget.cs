namespace Gateway.Translators.Translation;

/// <summary>A deployment's answer for parameters its provider does not document.</summary>
public enum UndocumentedPolicy
{
    /// <summary>400 naming the parameter (the default: the client learns the gateway cannot promise it).</summary>
    Reject,

    /// <summary>Left out silently.</summary>
    Drop,

    /// <summary>Sent as they are: the operator's word that the provider takes them.</summary>
    Pass,
}

/// <summary>
/// What a translator needs to know about the deployment it writes for: the upstream model id
/// (or URL slug), and the operator's choices about parameters the provider cannot honour.
/// </summary>
public sealed record DeploymentTarget
{
    public required string PublicModel { get; init; }
    public required string UpstreamModel { get; init; }

    /// <summary>Parameters this deployment may silently drop when the provider cannot honour them ("*" = any).</summary>
    public IReadOnlySet<string> DropParameters { get; init; } = new HashSet<string>();

    /// <summary>
    /// Parameters and extra fields this deployment sends although the provider's document does not list them
    /// ("*" = any): the operator's word that the provider takes them.
    /// </summary>
    public IReadOnlySet<string> PassParameters { get; init; } = new HashSet<string>();

    /// <summary>Parameters this deployment may clamp into the provider's range instead of rejecting.</summary>
    public IReadOnlySet<string> ClampParameters { get; init; } = new HashSet<string>();

    /// <summary>The upstream only answers with a stream; non-streaming clients get the stream collected.</summary>
    public bool StreamingOnly { get; init; }

    /// <summary>Provider-specific settings of this deployment (e.g. Hive V2's history role names).</summary>
    public IReadOnlyDictionary<string, string> Options { get; init; } = new Dictionary<string, string>();

    /// <summary>What happens to a parameter the provider does not document, unless Pass/DropParameters name it.</summary>
    public UndocumentedPolicy Undocumented { get; init; } = UndocumentedPolicy.Reject;

    /// <summary>A parameter the provider cannot honour as sent (unsupported, out of range) may be left out.</summary>
    public bool MayDrop(string param) => DropParameters.Contains(param) || DropParameters.Contains("*");

    /// <summary>What this deployment does with a parameter (or extra field) its provider does not document.</summary>
    public UndocumentedPolicy Decide(string param) =>
        PassParameters.Contains(param) || PassParameters.Contains("*") ? UndocumentedPolicy.Pass
        : MayDrop(param) ? UndocumentedPolicy.Drop
        : Undocumented;

    public bool MayClamp(string param) => ClampParameters.Contains(param) || ClampParameters.Contains("*");
}
