namespace Gateway.Translators.Providers.OpenAiCompatible;

/// <summary>How a provider's <c>content</c> field may look.</summary>
public enum ContentShape
{
    /// <summary>Strings or any OpenAI part array, passed on as sent.</summary>
    AnyOpenAi,

    /// <summary>Strings or arrays of <c>{"type":"text"}</c> parts only.</summary>
    TextParts,

    /// <summary>Plain strings only: text parts are joined into one string.</summary>
    PlainString,
}

/// <summary>What a provider accepts inside <c>messages</c>.</summary>
/// <param name="SingleSystemMessage">The provider takes one system message: system and developer messages are merged into it.</param>
public sealed record MessageRules(ContentShape Content, bool ToolMessages, bool ParticipantNames, bool SingleSystemMessage = false)
{
    public static readonly MessageRules OpenAi = new(ContentShape.AnyOpenAi, ToolMessages: true, ParticipantNames: true);
}
