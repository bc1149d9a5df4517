using static TorchSharp.torch;

namespace CircuitDsl.Runtime.Models;

/// <summary>dtype policy: norms, softmax and attribution math run in at least float32 (float64 stays float64).</summary>
public static class Precision
{
    /// <summary>Half and bfloat16 become float32; float32 and float64 are kept.</summary>
    public static Tensor AtLeastFloat32(Tensor x) =>
        x.dtype is ScalarType.Float16 or ScalarType.BFloat16 ? x.to_type(ScalarType.Float32) : x;
}
