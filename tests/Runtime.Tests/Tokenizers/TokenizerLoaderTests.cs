using CircuitDsl.Runtime.Loading;
using CircuitDsl.Runtime.Tests.Support;
using CircuitDsl.Runtime.Tokenizers;

namespace CircuitDsl.Runtime.Tests.Tokenizers;

public class TokenizerLoaderTests
{
    [Fact]
    public void Bundled_gpt2_vocabulary_gives_the_classic_ioi_ids()
    {
        var tokenizer = TokenizerLoader.Gpt2();
        tokenizer.Encode(" Mary", addBos: false).Should().Equal(5335);
        tokenizer.Encode("When Mary and John went to the store, John gave a drink to", addBos: false)
            .Should().Equal(2215, 5335, 290, 1757, 1816, 284, 262, 3650, 11, 1757, 2921, 257, 4144, 284);
        tokenizer.TokenText(5335).Should().Be(" Mary");
    }

    [SkippableFact]
    public void Hf_copy_of_stories260K_finds_the_llama2c_tokenizer_beside_it()
    {
        string folder = SharedData.Require("models", "stories260K", "hf-llama");
        var tokenizer = TokenizerLoader.Load(folder, HfConfigReader.Read(Path.Combine(folder, "config.json")));
        tokenizer.Should().BeOfType<Llama2cTokenizer>();
        tokenizer.Encode("Once upon a time").Should().Equal(1, 403, 407, 261, 378);
    }

    [Fact]
    public void Folder_without_a_tokenizer_is_a_clear_error()
    {
        var dir = Directory.CreateTempSubdirectory("cdsl-tok-").FullName;
        try
        {
            var config = new ModelConfig { Family = ModelFamily.Llama, VocabSize = 10, Hidden = 4, Layers = 1, Heads = 1, KvHeads = 1, HeadDim = 4, Intermediate = 8 };
            var act = () => TokenizerLoader.Load(Path.Combine(dir, "model"), config);
            act.Should().Throw<ModelLoadException>().WithMessage("*no tokenizer found*token ids*");
        }
        finally { Directory.Delete(dir, true); }
    }
}
