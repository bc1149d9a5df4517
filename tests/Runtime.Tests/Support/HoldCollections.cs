using System.Reflection;
using CircuitDsl.Runtime.Models;
using Xunit.Sdk;

[assembly: CircuitDsl.Runtime.Tests.Support.HoldCollections]

namespace CircuitDsl.Runtime.Tests.Support;

/// <summary>
/// Every test here holds garbage collection off as the library's own runs do (<see cref="GcPause"/>): these tests also
/// call its internals (passes, jets, states) directly, outside any run, where a collection's finalizers could free a
/// TorchSharp Scalar under a libtorch call (README, Limitations).
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class HoldCollectionsAttribute : BeforeAfterTestAttribute
{
    private IDisposable? _pause;

    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest) => _pause = GcPause.Enter();

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest)
    {
        _pause?.Dispose();
        _pause = null;
    }
}
