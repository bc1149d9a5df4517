using System.CommandLine;
using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Platform;
using CircuitDsl.Runtime.Sites;
using CircuitDsl.Runtime.Tokenizers;
using Spectre.Console;

namespace CircuitDsl.Cli.Commands;

/// <summary><c>circuit info</c>: the build, and with <c>--model</c> the model's family, sizes and site table.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: false);
        var command = new Command("info", "Show the build and backend; with --model, the model's family, sizes and sites.") { model };
        command.SetAction(parse =>
        {
            var build = new Table().Title("build").AddColumns("property", "value");
            build.AddRow("version", typeof(InfoCommand).Assembly.GetName().Version?.ToString(3) ?? "?");
            build.AddRow("torch", TorchSharp.torch.__version__);
            build.AddRow("cuda available", TorchSharp.torch.cuda.is_available().ToString());
            build.AddRow("threads", TorchSharp.torch.get_num_threads().ToString());
            build.AddRow("MKL kernels", Markup.Escape(MklOnAmd.Description));
            AnsiConsole.Write(build);

            if (parse.GetValue(model) is not { } path) return 0;
            var m = ModelLoader.Load(path);
            var c = m.Config;
            var shape = new Table().Title(Markup.Escape(path)).AddColumns("property", "value");
            shape.AddRow("family", c.Family.ToString());
            shape.AddRow("layers", c.Layers.ToString());
            shape.AddRow("d_model", c.Hidden.ToString());
            shape.AddRow("heads / kv heads", $"{c.Heads} / {c.KvHeads}");
            shape.AddRow("head dim", c.HeadDim.ToString());
            shape.AddRow("mlp width", c.Intermediate.ToString());
            shape.AddRow("vocab", c.VocabSize.ToString());
            shape.AddRow("parameters", m.parameters().Sum(p => p.numel()).ToString("N0"));
            string tokenizer;
            try { tokenizer = TokenizerLoader.Load(path, c).Description; }
            catch (ModelLoadException ex) { tokenizer = $"none: {ex.Message}"; }
            shape.AddRow("tokenizer", Markup.Escape(tokenizer));
            AnsiConsole.Write(shape);

            var sites = new Table().Title("sites (per layer unless global; shape after the batch dimension, T = positions)").AddColumns("site", "shape");
            foreach (var kind in Enum.GetValues<SiteKind>())
            {
                var site = new Site(kind, 0);
                if (kind == SiteKind.ResidMid && c.ParallelResidual) continue;
                sites.AddRow(Markup.Escape(site.IsGlobal ? Site.NameOf(kind) : "blocks.{l}." + Site.NameOf(kind)), Markup.Escape($"[{ShapeText(site, c)}]"));
            }
            AnsiConsole.Write(sites);
            return 0;
        });
        return command;
    }

    private static string ShapeText(Site site, ModelConfig c) => site.Kind switch
    {
        SiteKind.AttnScores or SiteKind.AttnPattern => $"{c.Heads}, T, T",
        _ => "T, " + string.Join(", ", site.Shape(c, 1).Skip(1)),
    };
}
