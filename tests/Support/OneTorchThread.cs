// Test classes run one at a time: TorchSharp 0.107 frees the Scalars it makes from numbers in finalizers without keeping
// one alive while libtorch reads it, so one test's allocations could start a collection that frees a Scalar under
// another test's libtorch call and crash the test host (README, Limitations). On two cores libtorch's own threads
// already use both, so little is lost.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
