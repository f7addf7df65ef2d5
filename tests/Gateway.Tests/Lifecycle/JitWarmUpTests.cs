using Gateway.Lifecycle;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.Tests.Lifecycle;

public sealed class JitWarmUpTests
{
    [Fact]
    public async Task CompilesAnAssemblysMethods_AndSkipsWhatCannotBeCompiledAhead()
    {
        // The translators: generic and abstract members among them, which must be skipped, not fail the warm-up.
        var warmUp = new JitWarmUp(NullLogger<JitWarmUp>.Instance, enabled: true, ["Gateway.Translators", "No.Such.Assembly"]);
        var compiled = await warmUp.CompileAsync();
        Assert.True(compiled > 300, $"{compiled} methods compiled");
    }

    [Fact]
    public async Task DoesNothing_WithTieredCompilationOn()
    {
        // The test host runs with tiering on (the default): the warm-up is the container's alone.
        Assert.False(JitWarmUp.TieredCompilationOff);
        var warmUp = new JitWarmUp(NullLogger<JitWarmUp>.Instance);
        var run = warmUp.WarmUpAsync();
        Assert.True(run.IsCompleted);
        await run;
    }
}
