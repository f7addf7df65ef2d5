using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;

namespace Gateway.Lifecycle;

/// <summary>
/// For a deployment that turns tiered compilation off (<c>DOTNET_TieredCompilation=0</c>; the image no longer does, see
/// the Dockerfile): every method is then compiled fully optimised on its first call, and a replica's first requests
/// would wait for the whole request path to compile, long enough for a burst of them to miss the rate limiter's
/// decision timeout. This compiles the request path's assemblies before the replica reports ready instead. With tiered
/// compilation on (the runtime's default, and the image's) it does nothing: first calls are cheap there.
/// </summary>
internal sealed partial class JitWarmUp(ILogger<JitWarmUp> logger, bool enabled, IReadOnlyList<string> assemblies)
{
    public JitWarmUp(ILogger<JitWarmUp> logger)
        : this(logger, TieredCompilationOff, RequestPath)
    {
    }

    // What a chat completion runs through, beyond the framework's core: the gateway, its translators, Kestrel and
    // routing, the forwarder and its HTTP client, JSON, Redis, retries.
    private static readonly string[] RequestPath =
    [
        "Gateway", "Gateway.Translators", "Microsoft.AspNetCore.Server.Kestrel.Core", "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Http", "Microsoft.AspNetCore.Hosting", "Yarp.ReverseProxy", "System.Net.Http", "System.Text.Json",
        "StackExchange.Redis", "Polly.Core",
    ];

    public static bool TieredCompilationOff =>
        Environment.GetEnvironmentVariable("DOTNET_TieredCompilation") == "0" ||
        (AppContext.GetData("System.Runtime.TieredCompilation") is bool tiered && !tiered);

    public Task WarmUpAsync() => enabled ? CompileAsync() : Task.CompletedTask;

    /// <summary>Compiles every method of the assemblies that can be compiled ahead of a call; returns how many.</summary>
    internal Task<int> CompileAsync() => Task.Run(() =>
    {
        var started = Stopwatch.GetTimestamp();
        // Load returns the assembly already loaded in the default context (names can repeat across contexts).
        var types = assemblies.Select(TryLoad).OfType<Assembly>().SelectMany(TypesOf).ToList();
        // One thread: the replica serves nothing yet, but its neighbours on the same host do (a rolling restart
        // compiling on every core starved the other replicas' rate-limit decisions past their timeout in the fleet proof).
        var methods = types.Sum(Compile);
        Log.Compiled(logger, methods, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return methods;
    });

    private static Assembly? TryLoad(string name)
    {
        try
        {
            return Assembly.Load(name);
        }
        catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            return null;
        }
    }

    private static Type[] TypesOf(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return [.. ex.Types.OfType<Type>()];
        }
    }

    private static int Compile(Type type)
    {
        // Open generic code has no one body to compile; its instantiations compile on first use.
        if (type.ContainsGenericParameters)
        {
            return 0;
        }

        var count = 0;
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method.IsAbstract || method.ContainsGenericParameters || method.GetMethodBody() is null)
            {
                continue;
            }

            try
            {
                RuntimeHelpers.PrepareMethod(method.MethodHandle);
                count++;
            }
            catch (Exception ex) when (ex is ArgumentException or BadImageFormatException or InvalidOperationException or TypeLoadException
                or MissingMethodException or NotSupportedException)
            {
                // Some methods cannot be compiled ahead of their first call (unusual signatures); they still compile then.
            }
        }

        return count;
    }

    private static partial class Log
    {
        [LoggerMessage(125, LogLevel.Information, "Compiled {Methods} methods of the request path before ready, in {Milliseconds} ms")]
        public static partial void Compiled(ILogger logger, int methods, long milliseconds);
    }
}
