using System.Text.RegularExpressions;

namespace Gateway.Tests.Architecture;

/// <summary>
/// The folders of <c>src/Gateway</c> show the direction of dependency: no folder depends, directly or through others,
/// on one that depends on it, and the request's own types (<c>Requests/</c>) use nothing but the compiled configuration
/// and the error shape. Read from the source (a <c>using Gateway.X;</c> or a <c>X.Type</c> reference counts); the
/// composition root (files directly in <c>src/Gateway</c>) may use everything and nothing may use it.
/// </summary>
public sealed partial class DependencyDirectionTests
{
    private static readonly string Source = Path.Combine(RepositoryRoot(), "src", "Gateway");

    [Fact]
    public void NoFolderDependsOnItselfThroughOthers()
    {
        var graph = Graph();
        var cycles = StronglyConnected(graph).Where(c => c.Count > 1).Select(c => string.Join(" <-> ", c.Order(StringComparer.Ordinal))).ToList();
        Assert.True(cycles.Count == 0, "Folders that depend on each other: " + string.Join("; ", cycles) + "\n" + Describe(graph));
    }

    [Fact]
    public void TheRequestsTypes_UseOnlyTheConfigurationAndErrors()
    {
        var uses = Graph()["Requests"];
        Assert.True(uses.IsSubsetOf(["Configuration", "Errors"]), "Requests uses: " + string.Join(", ", uses));
    }

    [Fact]
    public void ErrorsAndBuffers_UseNothing()
    {
        var graph = Graph();
        Assert.Empty(graph["Errors"]);
        Assert.Empty(graph["Buffers"]);
    }

    private static Dictionary<string, HashSet<string>> Graph()
    {
        var folders = Directory.GetDirectories(Source).Select(Path.GetFileName).Where(f => f is not ("obj" or "bin")).Select(f => f!).ToList();
        var graph = folders.ToDictionary(f => f, _ => new HashSet<string>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var folder in folders)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Source, folder), "*.cs", SearchOption.AllDirectories))
            {
                var code = LineComment().Replace(File.ReadAllText(file), "");
                foreach (var other in folders.Where(o => o != folder && Uses(code, o)))
                {
                    graph[folder].Add(other);
                }
            }
        }

        return graph;
    }

    private static bool Uses(string code, string folder) =>
        code.Contains($"using Gateway.{folder};", StringComparison.Ordinal)
        || Regex.IsMatch(code, $@"(?<![\w.])(Gateway\.)?{folder}\.[A-Z]\w*");

    /// <summary>Tarjan's strongly connected components: a component of more than one folder is a cycle.</summary>
    private static List<List<string>> StronglyConnected(Dictionary<string, HashSet<string>> graph)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var result = new List<List<string>>();
        void Visit(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in graph[v])
            {
                if (!index.TryGetValue(w, out var seen))
                {
                    Visit(w);
                    low[v] = Math.Min(low[v], low[w]);
                }
                else if (onStack.Contains(w))
                {
                    low[v] = Math.Min(low[v], seen);
                }
            }

            if (low[v] == index[v])
            {
                var component = new List<string>();
                string w;
                do
                {
                    w = stack.Pop();
                    onStack.Remove(w);
                    component.Add(w);
                }
                while (w != v);
                result.Add(component);
            }
        }

        foreach (var v in graph.Keys.Where(v => !index.ContainsKey(v)))
        {
            Visit(v);
        }

        return result;
    }

    private static string Describe(Dictionary<string, HashSet<string>> graph) =>
        string.Join("\n", graph.OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} -> {string.Join(", ", g.Value.Order(StringComparer.Ordinal))}"));

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gateway.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Gateway.slnx) is not above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"//.*")]
    private static partial Regex LineComment();
}
