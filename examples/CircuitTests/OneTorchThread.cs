// Claims run one at a time: with TorchSharp 0.107, a test's allocations can start a garbage collection that frees a
// Scalar another test's libtorch call still reads (README, Limitations).
[assembly: CollectionBehavior(DisableTestParallelization = true)]
