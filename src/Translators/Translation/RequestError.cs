namespace Gateway.Translators.Translation;

/// <summary>A problem with the client's request, reported as a 400 OpenAI error naming <see cref="Param"/>.</summary>
public sealed record RequestError(string Message, string? Param, string? Code = null)
{
    public static RequestError Unsupported(string param, string model) =>
        new($"'{param}' is not supported by model '{model}'. Remove it, or ask the operator to allow dropping it for this model.",
            param, "unsupported_parameter");
}
