namespace Gateway.Translators.Translation;

/// <summary>The accepted range of a numeric parameter at one provider.</summary>
/// <param name="ClampByDefault">
/// True only where clamping keeps the meaning: <c>max_tokens</c> is a ceiling, and a shorter
/// limit still reports <c>finish_reason: length</c>. Everything else is rejected unless the
/// deployment opts in to clamping.
/// </param>
/// <param name="MinExclusive">The minimum itself is outside the range (DeepInfra: <c>0 &lt; top_p ≤ 1</c>).</param>
public sealed record ParameterRange(double Min, double Max, bool ClampByDefault = false, bool MinExclusive = false)
{
    public bool Contains(double value) => (MinExclusive ? value > Min : value >= Min) && value <= Max;

    public string Describe() => MinExclusive ? $"more than {Min} and at most {Max}" : $"{Min} to {Max}";
}

/// <summary>
/// What a provider's own document says it takes (the seeds are the ground truth): parameters it documents, each with
/// its documented range, and extra fields it documents beyond OpenAI's. Every other OpenAI parameter is
/// <em>undocumented</em> at this provider: the deployment decides (<see cref="DeploymentTarget.Undocumented"/>,
/// <c>PassParameters</c>, <c>DropParameters</c>); by default it is refused, never sent on a guess.
/// </summary>
public sealed class ParameterSupport
{
    /// <summary>Documented OpenAI parameter names, each with its documented range (null where the document gives none).</summary>
    public required IReadOnlyDictionary<string, ParameterRange?> Documented { get; init; }

    /// <summary>Documented fields outside the OpenAI set (DeepInfra's <c>top_k</c>, <c>min_p</c>, <c>repetition_penalty</c>): sent as they are.</summary>
    public IReadOnlySet<string> Extras { get; init; } = new HashSet<string>();

    public bool IsDocumented(string param) => Documented.ContainsKey(param);

    public ParameterRange? RangeOf(string param) => Documented.GetValueOrDefault(param);
}
