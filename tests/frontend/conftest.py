"""Every front-end test runs on each device of SHRIMP_TEST_DEVICES (default "C,PYTHON": the compiled device `C`
and `PYTHON`, stage 03's UOp interpreter). All must agree with numpy; `-k C` or `-k PYTHON` selects one.
`make test-cuda` runs the same suite with SHRIMP_TEST_DEVICES=CUDA on a machine with an NVIDIA GPU."""

import os

import pytest

from shrimpgrad.helpers import Context

DEVICES = [d.strip().upper() for d in os.environ.get("SHRIMP_TEST_DEVICES", "C,PYTHON").split(",") if d.strip()]


@pytest.fixture(params=DEVICES, autouse=True)
def device(request):
    with Context(DEVICE=request.param):
        yield request.param
