"""Every front-end test runs twice: on the default compiled device `C` and on `PYTHON` (stage 03's UOp
interpreter). Both must agree with numpy; `-k C` or `-k PYTHON` selects one."""

import pytest

from shrimpgrad.helpers import Context


@pytest.fixture(params=["C", "PYTHON"], autouse=True)
def device(request):
    with Context(DEVICE=request.param):
        yield request.param
