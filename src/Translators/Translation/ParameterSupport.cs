namespace Gateway.Translators.Translation;

/// <summary>The accepted range of a numeric parameter at one provider.</summary>
/// <param name="ClampByDefault">
/// True only where clamping keeps the meaning: <c>max_tokens</c> is a ceiling, and a shorter
/// limit still reports <c>finish_reason: length</c>. Everything else is rejected unless the
/// deployment opts in to clamping.
/// </param>
public sealed record ParameterRange(double Min, double Max, bool ClampByDefault = false);

/// <summary>Which OpenAI parameters a provider honours, and in what range.</summary>
public sealed class ParameterSupport
{
    /// <summary>Supported OpenAI parameter names, each with an optional provider range.</summary>
    public required IReadOnlyDictionary<string, ParameterRange?> Supported { get; init; }

    /// <summary>
    /// Fields outside the OpenAI set that the provider documents (DeepInfra's <c>top_k</c>, <c>min_p</c>,
    /// <c>repetition_penalty</c>): they go upstream as they are. Any other field only where the deployment passes it.
    /// </summary>
    public IReadOnlySet<string> Extras { get; init; } = new HashSet<string>();

    public bool Supports(string param) => Supported.ContainsKey(param);

    public ParameterRange? RangeOf(string param) => Supported.GetValueOrDefault(param);
}
