"""Shared test setup: hypothesis profiles (`make test` selects `ci`) and a private kernel cache."""

import atexit
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings

# function_scoped_fixture: the front-end tests run under an autouse `device` fixture whose value
# is the same for every example of a test, so sharing it between examples is what we want.
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=60, deadline=None, suppress_health_check=_QUIET, derandomize=True,
                          print_blob=True)
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("thorough", max_examples=1000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# Compiled kernels go to a private cache for this test session, never the user's ~/.cache/shrimpgrad, and the
# folder goes when the session ends (each `make test` used to leave ~36 MB in /tmp).
if "SHRIMPGRAD_CACHE_DIR" not in os.environ:
    os.environ["SHRIMPGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="shrimpgrad-test-cache-")
    atexit.register(shutil.rmtree, os.environ["SHRIMPGRAD_CACHE_DIR"], ignore_errors=True)
