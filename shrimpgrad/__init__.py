"""ShrimpGrad: an educational staged tensor compiler. `from shrimpgrad import Tensor, dtypes`."""

from shrimpgrad import explain  # a package you can call: shrimpgrad.explain(t)
from shrimpgrad.devices import Device
from shrimpgrad.graph import DType, dtypes
from shrimpgrad.helpers import Context, GlobalCounters, getenv
from shrimpgrad.jit import TinyJit
from shrimpgrad.tensor import Tensor, no_grad

__all__ = ["Tensor", "dtypes", "DType", "no_grad", "Context", "GlobalCounters", "getenv", "TinyJit", "Device",
           "explain"]
