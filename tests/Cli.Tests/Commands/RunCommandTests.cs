using CircuitDsl.Cli.Commands;

namespace CircuitDsl.Cli.Tests.Commands;

/// <summary>A hypothesis compiled by our generator (the demo's, inside the circuit tool) runs end to end.</summary>
public class RunCommandTests
{
    [Fact]
    public void Run_finds_the_generated_experiment_and_prints_every_declared_component_and_edge()
    {
        string assembly = typeof(CircuitCli).Assembly.Location;
        RunCommand.Plans(typeof(CircuitCli).Assembly).Select(p => p.Type.Name).Should().Contain("IoiToyNameSwap");

        var (code, output) = CliTests.Run("run", assembly, "--experiment", "IoiToyNameSwap");
        code.Should().Be(0);
        output.Should().Contain("IOI toy circuit").And.Contain("DuplicateDetectors").And.Contain("L0H1").And.Contain("L2MLP");
        output.Should().Contain("edges of IOI toy circuit (path patching)").And.MatchRegex(@"DuplicateDetectors\s*│\s*Mlps\s*│\s*input\s*│");
    }

    [SkippableFact]
    public void Run_loads_a_test_projects_own_dependencies_and_runs_its_answer_set_experiment()
    {
        // examples/CircuitTests needs xunit and CircuitDsl.Testing, which only its own folder holds.
        string assembly = CliTests.Repo("examples", "CircuitTests", "bin", "Release", "net10.0", "linux-x64", "CircuitTests.dll");
        Skip.IfNot(File.Exists(assembly), "examples/CircuitTests is not built in Release (dotnet test CircuitDsl.sln -c Release builds it).");
        var (code, output) = CliTests.Run("run", assembly, "--experiment", "EarlierStart", "--model", CliTests.Repo("models", "greater-than"));
        code.Should().Be(0);
        output.Should().Contain("EarlierStart (prob_diff)").And.MatchRegex(@"SecondHeads\s*│\s*L1H3\s*│");
    }

    [Fact]
    public void An_experiment_name_not_declared_lists_the_declared_ones()
    {
        var act = () => CliTests.Run("run", typeof(CircuitCli).Assembly.Location, "--experiment", "IoiToyNameSwapp");
        act.Should().Throw<ArgumentException>().WithMessage("*no experiment named 'IoiToyNameSwapp'; it declares IoiToyNameSwap*");
    }

    [Fact]
    public void Run_on_something_that_is_not_a_project_is_a_clear_error()
    {
        var act = () => CliTests.Run("run", "README.md");
        act.Should().Throw<ArgumentException>().WithMessage("*neither a .csproj nor a .dll*");
        var folder = () => CliTests.Run("run", CliTests.Repo("docs"));
        folder.Should().Throw<ArgumentException>().WithMessage("*docs' holds no .csproj; name the project file or the built .dll*");
    }
}
