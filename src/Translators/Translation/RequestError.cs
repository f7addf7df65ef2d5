namespace Gateway.Translators.Translation;

/// <summary>A problem with the client's request, reported as a 400 OpenAI error naming <see cref="Param"/>.</summary>
public sealed record RequestError(string Message, string? Param, string? Code = null)
{
    public static RequestError Unsupported(string param, string model) =>
        new($"'{param}' is not supported by model '{model}'. Remove it, or ask the operator to allow dropping it for this model.",
            param, "unsupported_parameter");

    public static RequestError Undocumented(string param, string model) =>
        new($"'{param}' is not in the documentation of the provider serving model '{model}', so the gateway does not send it. " +
            "Remove it, or ask the operator to pass or drop it for this model (PassParameters / DropParameters).",
            param, "unsupported_parameter");
}
