"""No GPU needed: every kernel a representative run of the front-end op suite produces renders as CUDA (with the GPU
opts policy) and NVRTC compiles it to a CUBIN. Forward and backward, every dtype family, every kind of kernel
(elementwise, reduce, GROUP reductions, gated loads, scans, sorts, convolutions, float16)."""

import numpy as np
import pytest

pytest.importorskip("cuda.bindings.nvrtc")

from shrimpgrad import Tensor, dtypes  # noqa: E402
from shrimpgrad.cuda import source_for  # noqa: E402

RNG = np.random.default_rng(0)


def f32(*shape):
    return Tensor(RNG.standard_normal(shape).astype(np.float32), requires_grad=True)


def programs():
    """(name, output tensors): the op families of tests/frontend, forward and backward."""
    x, y, w = f32(6, 10), f32(6, 10), f32(10, 7)
    pos = Tensor(RNG.uniform(0.1, 2, (6, 10)).astype(np.float32))
    i32 = Tensor(RNG.integers(-50, 50, (6, 10)).astype(np.int32))
    i8 = Tensor(RNG.integers(-100, 100, (33,)).astype(np.int8))
    u8 = Tensor(RNG.integers(0, 255, (33,)).astype(np.uint8))
    i64 = Tensor(RNG.integers(-9, 9, (5, 4)).astype(np.int64))
    f16 = Tensor(RNG.standard_normal((8, 12)).astype(np.float16))
    f64 = Tensor(RNG.standard_normal((4, 9)))
    bools = x > 0
    img = f32(2, 3, 9, 9)
    labels = Tensor(RNG.integers(0, 10, (6,)).astype(np.int32))
    out = {
        "arith": [x + y, x - y, x * y, x / pos, -x, x.reciprocal(), x.square(), x.maximum(y), x.minimum(y),
                  x.where(bools, y), x.clip(-0.5, 0.5), x.abs(), x.sign(), x.pow(2.5), pos.pow(y),
                  Tensor(RNG.standard_normal(1009).astype(np.float32)) * 2],  # a prime size: the rounded-up grid
        "math": [x.exp(), x.exp2(), pos.log(), pos.log2(), pos.sqrt(), pos.rsqrt(), x.sin(), x.cos(), x.tan(),
                 x.trunc(), x.floor(), x.ceil(), x.round(), x.atan(), x.clip(-0.9, 0.9).asin(), x.erf(), x.expm1(),
                 pos.log1p(), x.sinh(), x.cosh(), x.asinh(), x.logaddexp(y), x.copysign(y), x.fmod(pos),
                 x.lerp(y, 0.3), x.isnan(), x.isinf(), x.isfinite(), x.isclose(y)],
        "activations": [x.relu(), x.sigmoid(), x.tanh(), x.gelu(), x.gelu(approximate="tanh"), x.silu(),
                        x.leaky_relu(), x.elu(), x.celu(), x.selu(), x.softplus(), x.mish(), x.softsign(),
                        x.logsigmoid(), x.hardtanh(), x.relu6(), x.hardsigmoid(), x.hardswish()],
        "compare_logic": [x < y, x == y, x != y, x >= y, bools.logical_not(), bools.logical_and(y > 0),
                          bools.logical_or(y > 0)],
        "ints": [i32 // 7, i32 % 7, i32 * i32, i32 + (2**31 - 1), i32 & 12, i32 | 3, i32 ^ 5, i32.bitwise_not(),
                 i32 << 2, i32 >> 1, i8 * 3, i8 // -3, u8 + 200, u8 // 7, i64 * i64, i64 % -4, i32.sum(),
                 i32.max(axis=1), i32.cast(dtypes.float32), x.cast(dtypes.int32), i8.cast(dtypes.uint8)],
        "float16_float64": [f16 + f16, f16 * 3, f16.exp(), f16.sum(), f16.max(axis=0), f16.float(), x.half(),
                            f16.softmax(), f64 * f64, f64.sqrt(), f64.sum(axis=0), f64.log_softmax(),
                            f16.pad(((1, 1), (0, 2))) * 2,  # a gated float16 load: `c ? (float)data[i] : 0.0f`
                            f16.reshape(1, 1, 8, 12).conv2d(Tensor(np.ones((2, 1, 3, 3), np.float16)), padding=1)],
        "reduce": [x.sum(), x.sum(axis=0), x.sum(axis=1), x.max(), x.max(axis=0), x.min(axis=1), x.mean(),
                   x.var(), x.std(axis=0), x.prod(axis=1), x.argmax(axis=1), x.argmin(), x.logsumexp(axis=1),
                   x.softmax(), x.log_softmax(axis=0), bools.any(), bools.all(axis=1),
                   Tensor(RNG.standard_normal(4096).astype(np.float32)).sum(),
                   Tensor(RNG.standard_normal((3, 1000)).astype(np.float32)).max(axis=1),
                   Tensor(RNG.standard_normal((96, 200)).astype(np.float32)).sum(axis=0),
                   Tensor(RNG.standard_normal((8, 64)).astype(np.float32)).sum(axis=1)],  # GROUP x LOCAL threads
        "movement": [x.reshape(10, 6) * 2, x.permute(1, 0) + 1, x.pad(((1, 2), (0, 3))) * 2, x.flip(0) + 0,
                     x[1:4, ::2] * 2, x[::-1, 3] + 1, x.expand(2, 6, 10) * 1, x.repeat(2, 1) + 0,
                     x.transpose() @ x, x.flatten().contiguous(), x.unsqueeze(0).squeeze() + 1],
        "matmul_nn": [x @ w, (x @ w).relu().sum(), x.linear(w, f32(7)), x.dot(w),
                      x.layernorm(),
                      (x @ w).sparse_categorical_crossentropy(labels[:6] % 7),
                      x.cross_entropy(y.softmax()), x.sigmoid().binary_crossentropy(pos.clip(0, 1)),
                      x.binary_crossentropy_logits(pos.clip(0, 1)), labels.one_hot(10)],
        "conv_pool": [img.conv2d(f32(4, 3, 3, 3)), img.conv2d(f32(3, 1, 3, 3), groups=3, padding=1, stride=2),
                      img.max_pool2d(), img.avg_pool2d(kernel_size=3), img.batchnorm(None, None, Tensor.ones(3),
                                                                                   Tensor.ones(3))],
        "scan_sort": [x.cumsum(axis=1), x.cumprod(axis=0), x.cummax(axis=1), x.logcumsumexp(axis=1),
                      x.sort(dim=1)[0], x.argsort(dim=0), x.topk(3)[0], i32.cumsum(axis=1)],
        "indexing": [x[Tensor([0, 2, 5])], x.gather(1, Tensor(RNG.integers(0, 10, (6, 3)).astype(np.int32))),
                     x[Tensor([1, 3]), Tensor([4, 0])]],
    }
    loss = ((x @ w).relu().sum() + x.softmax().log().mean() + img.conv2d(f32(2, 3, 3, 3)).square().mean()
            + x.sigmoid().var() + x.layernorm().max())
    loss.backward()
    out["backward"] = [t.grad for t in (x, w, img) if t.grad is not None]
    return out


def test_nvrtc_compiles_every_kernel_of_the_op_suite():
    seen: dict[str, str] = {}  # source -> the family it first came from
    failures = []
    for family, tensors in programs().items():
        for t in tensors:
            try:
                for k in source_for(t):
                    assert k.cubin is not None and k.cubin.cubin[:4] == b"\x7fELF"
                    assert k.launch.threads >= 1 and f'extern "C" __global__ void {k.name}(' in k.source
                    seen.setdefault(k.source, family)
            except Exception as e:  # noqa: BLE001 - collect them all, report together
                failures.append(f"{family}: {type(e).__name__}: {str(e)[:2000]}")
    assert not failures, "\n\n".join(failures)
    families = set(seen.values())
    print(f"{len(seen)} distinct kernels compiled")
    assert len(seen) >= 150, f"only {len(seen)} distinct kernels: the suite above should produce far more"
    assert families == set(programs()) - {"nothing"}, families
    text = "\n".join(seen)
    for feature in ("__shared__", "__syncthreads();", "blockIdx.x * 128 + threadIdx.x", "return;",
                    "#include <cuda_fp16.h>", "threadIdx.y"):
        assert feature in text, f"no kernel of the op suite uses {feature!r}"
