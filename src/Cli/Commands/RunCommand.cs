using System.CommandLine;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;
using CircuitDsl.Cli.Rendering;
using CircuitDsl.Cli.Reports;
using CircuitDsl.Runtime.Experiments;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit run PROJECT_OR_ASSEMBLY</c>: runs every experiment a hypothesis project declares.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("project-or-assembly") { Description = "A hypothesis project (.csproj, built in Release first) or its built .dll." };
        var model = CommonOptions.Model(required: false);
        var device = CommonOptions.Device();
        var only = new Option<string?>("--experiment") { Description = "Run only the experiment with this class name." };
        var command = new Command("run", "Run the experiments declared in a hypothesis project.") { target, model, device, only };
        command.SetAction(parse =>
        {
            var console = Output.Console(parse);
            string assemblyPath = Resolve(parse.GetValue(target)!);
            var assembly = LoadWithDependencies(Path.GetFullPath(assemblyPath));
            var declared = Plans(assembly).ToList();
            if (declared.Count == 0) throw new ArgumentException($"{assemblyPath} declares no [Experiment] (no generated Plan found).");
            var plans = declared.Where(p => parse.GetValue(only) is not { } name || p.Type.Name == name).ToList();
            if (plans.Count == 0)
                throw new ArgumentException($"{assemblyPath} declares no experiment named '{parse.GetValue(only)}'; it declares {string.Join(", ", declared.Select(p => p.Type.Name))}.");
            foreach (var (type, plan) in plans)
            {
                string path = parse.GetValue(model) ?? MatchingEmbeddedModel(plan)
                    ?? throw new ArgumentException($"Experiment {type.Name} targets a {plan.Model.Family} model with {plan.Model.Layers} layers; pass --model DIR.");
                var m = ModelLoader.Load(path, CommonOptions.ParseDevice(parse.GetValue(device)!));
                var tokenizer = TokenizerLoader.Load(path, m.Config);
                var result = ProgressBars.Run(type.Name, progress => ExperimentRunner.Run(m, tokenizer, plan, progress));
                AttributionTable.WriteWarnings(console, result);
                console.Write(AttributionTable.Hypothesis($"{plan.Circuit} — {type.Name} ({result.MetricKind})",
                    plan.Groups.Select(g => (g.Name, result.Group(g)))));
                if (plan.Edges.Count > 0)
                    console.Write(AttributionTable.Edges(plan.Circuit, ExperimentRunner.Edges(m, tokenizer, plan)));
            }
            return 0;
        });
        return command;
    }

    /// <summary>Every generated experiment plan in an assembly.</summary>
    public static IEnumerable<(Type Type, ExperimentPlan Plan)> Plans(Assembly assembly) =>
        from type in LoadableTypes(assembly)
        let property = type.GetProperty("Plan", BindingFlags.Public | BindingFlags.Static)
        where property?.PropertyType == typeof(ExperimentPlan)
        select (type, (ExperimentPlan)property.GetValue(null)!);

    // One resolver per hypothesis assembly loaded in this process, behind one handler (a host that runs several, as the
    // tests do, adds no handler per run).
    private static readonly Dictionary<string, AssemblyDependencyResolver> Resolvers = [];

    static RunCommand() => AssemblyLoadContext.Default.Resolving += (context, name) =>
        FindDependency(name) is { } path ? context.LoadFromAssemblyPath(path) : null;

    private static string? FindDependency(AssemblyName name)
    {
        lock (Resolvers) return Resolvers.Values.Select(r => r.ResolveAssemblyToPath(name)).FirstOrDefault(found => found is not null);
    }

    // The hypothesis assembly, its own dependencies (a test project's xunit, CircuitDsl.Testing) found beside it by its
    // .deps.json; CircuitDsl's assemblies, already loaded here, are shared with it.
    private static Assembly LoadWithDependencies(string path)
    {
        path = Path.GetFullPath(path);
        lock (Resolvers)
            if (!Resolvers.ContainsKey(path)) Resolvers[path] = new AssemblyDependencyResolver(path);
        return AssemblyLoadContext.Default.LoadFromAssemblyPath(path);
    }

    // Types whose own dependencies load; a type that needs a missing assembly declares no plan this tool can run.
    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException ex) { return ex.Types.OfType<Type>(); }
    }

    private static string Resolve(string target)
    {
        // A project folder stands for its one project file.
        if (Directory.Exists(target))
        {
            var projects = Directory.GetFiles(target, "*.csproj");
            target = projects.Length == 1 ? projects[0]
                : throw new ArgumentException($"'{target}' holds {(projects.Length == 0 ? "no .csproj" : $"{projects.Length} .csproj files")}; name the project file or the built .dll.");
        }
        if (target.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
            return File.Exists(target) ? target : throw new FileNotFoundException($"{target} not found.");
        if (!target.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase) || !File.Exists(target))
            throw new ArgumentException($"'{target}' is neither a .csproj nor a .dll.");
        Dotnet($"build \"{target}\" -c Release --nologo -v q");
        return Dotnet($"msbuild \"{target}\" -getProperty:TargetPath -p:Configuration=Release").Trim();
    }

    private static string Dotnet(string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo("dotnet", arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"dotnet {arguments} failed:\n{output}{process.StandardError.ReadToEnd()}");
        return output;
    }

    // The toy model shipped with the tool whose shape the plan was compiled against, if any (used without --model).
    private static string? MatchingEmbeddedModel(ExperimentPlan plan)
    {
        foreach (var name in new[] { "ioi", "induction", "greater-than" })
        {
            string folder;
            try { folder = EmbeddedModels.Locate(name); } catch (DirectoryNotFoundException) { continue; }
            var c = HfConfigReader.Read(Path.Combine(folder, "config.json"));
            var s = plan.Model;
            if (c.Layers == s.Layers && c.Heads == s.Heads && c.KvHeads == s.KvHeads && c.AttentionOnly == s.AttentionOnly && (c.AttentionOnly || c.Intermediate == s.Neurons))
                return folder;
        }
        return null;
    }
}
