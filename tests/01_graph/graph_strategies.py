"""The stage-01 graph strategies, under the name the stage tests import (`from graph_strategies import ...`).

They live in `shrimpgrad.fuzz.graph_strategies`, shared with the fuzzer (`python -m shrimpgrad.fuzz`)."""

from shrimpgrad.fuzz.graph_strategies import (  # noqa: F401 - re-exported for the stage tests
    BOUND,
    F32,
    FLOAT_TOLERANCE,
    I32,
    MAX_ELEMENTS,
    apply_chain,
    graphs,
    int_graphs,
    leaf,
    movement_chains,
    movement_step,
    shapes,
)
