"""The notebook view of a CUDA kernel: one HTML view (stage 01's notebook helper), the highlighted source under its
header; no GPU and no NVRTC needed."""

import numpy as np

from shrimpgrad import Tensor
from shrimpgrad.cuda import cuda_kernel
from shrimpgrad.cuda.viz import KernelView
from shrimpgrad.schedule import create_schedule


def test_kernel_view_in_a_notebook_is_its_source_as_html():
    x = Tensor(np.arange(8, dtype=np.float32))
    (kernel,) = create_schedule([(x * 2).node]).kernels
    k = cuda_kernel(kernel, compile=False)
    bundle = KernelView(k)._repr_mimebundle_()
    assert list(bundle) == ["text/html"] and repr(KernelView(k)) == f"KernelView({k.name})"
    html = bundle["text/html"]
    assert "stage 05 · CUDA" in html and "__global__" in html and "style=" in html  # highlighted (inline styles)
