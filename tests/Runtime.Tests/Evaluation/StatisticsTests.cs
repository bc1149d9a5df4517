using CircuitDsl.Runtime.Evaluation;

namespace CircuitDsl.Runtime.Tests.Evaluation;

/// <summary>The rank statistics every comparison with patching rests on.</summary>
public class StatisticsTests
{
    [Fact]
    public void Spearman_is_one_for_any_increasing_map_minus_one_reversed_and_NaN_for_a_constant()
    {
        Statistics.Spearman([1, 2, 3, 4], [10, 20, 300, 4000]).Should().BeApproximately(1, 1e-12);
        Statistics.Spearman([1, 2, 3, 4], [4, 3, 2, 1]).Should().BeApproximately(-1, 1e-12);
        Statistics.Spearman([1, 2, 3], [5, 5, 5]).Should().Be(double.NaN);
    }

    [Fact]
    public void Auroc_counts_ties_half_and_is_NaN_with_one_class()
    {
        Statistics.Auroc([0.1, 0.2, 0.8, 0.9], [false, false, true, true]).Should().Be(1);
        Statistics.Auroc([0.5, 0.5], [false, true]).Should().Be(0.5);
        Statistics.Auroc([0.1, 0.2], [true, true]).Should().Be(double.NaN);
    }

    [Fact]
    public void Top_k_overlap_ranks_by_absolute_value()
    {
        PatchingEvaluation.TopKOverlap([-5, 1, 4, 0.5], [5, 0.1, -3, 2], k: 2).Should().Be(1);
        PatchingEvaluation.TopKOverlap([-5, 1, 4, 0.5], [5, 0.1, -3, 2], k: 3).Should().BeApproximately(2.0 / 3, 1e-12);
    }

    [Fact]
    public void Samples_that_do_not_pair_up_are_an_error_not_a_score()
    {
        FluentActions.Invoking(() => PatchingEvaluation.TopKOverlap([1, 2, 3], [], 5)).Should().Throw<ArgumentException>().WithMessage("*3 and 0*");
        FluentActions.Invoking(() => Statistics.Spearman([1, 2], [1, 2, 3])).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => Statistics.Auroc([1, 2], [true])).Should().Throw<ArgumentException>();
    }
}
