"""ShrimpGrad: an educational staged tensor compiler. `from shrimpgrad import Tensor, dtypes`."""

import importlib

from shrimpgrad.devices import Device
from shrimpgrad.graph import DType, dtypes
from shrimpgrad.helpers import Context, GlobalCounters, getenv
from shrimpgrad.tensor import Tensor, no_grad

__all__ = ["Tensor", "dtypes", "DType", "no_grad", "Context", "GlobalCounters", "getenv", "TinyJit", "Device",
           "explain"]


def __getattr__(name: str):
    """`shrimpgrad.explain`, a package you can call (`shrimpgrad.explain(t)`), is imported on first use: it brings
    rich and graphviz, which a program that never asks for an explanation doesn't need (`import shrimpgrad` stays
    fast). Once imported, it is an attribute of this package and this function isn't asked again.
    `TinyJit` too: jit.py's seven dataclasses cost ~6 ms to create at import, paid only by programs that use it."""
    if name == "explain":
        return importlib.import_module("shrimpgrad.explain")
    if name == "TinyJit":
        return importlib.import_module("shrimpgrad.jit").TinyJit
    raise AttributeError(f"module 'shrimpgrad' has no attribute {name!r}")
