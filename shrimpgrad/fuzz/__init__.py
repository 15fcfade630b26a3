"""A differential fuzzer: random well-typed programs, computed every way ShrimpGrad can, must agree.

    python -m shrimpgrad.fuzz --n 200 --seed 0 [--device C|PYTHON|CUDA] [--time 20] [--out fuzz-repro]

Each program is checked by several independent computations of the same numbers:

    stage 01 evaluate (numpy on the graph)  ≡  stage 02 run_schedule_numpy (numpy kernel by kernel)
                                            ≡  device PYTHON (UOp interpreter)  ≡  device C  (≡ CUDA)

and, for programs that call backward(), every device's gradients against finite differences of the
stage-01 evaluator in float64. A program lands in one category (`check.CATEGORIES`): ok, a wrong value,
a wrong gradient, an unexpected exception, a crashed worker, or a hang (past the per-program time limit;
programs run in a worker process, so a hang or a segfault is counted, not fatal). The first program of
each new kind of failure is shrunk by hypothesis and written out as a standalone reproducer `.py`.

Modules, in the order a program meets them:
    graph_strategies  stage-01 graph strategies (shared with the stage tests): shapes, movement chains, graphs
    programs          random Tensor programs as Python source lines (`Program`), their strategy and renderer
    check             run one program every way and classify the outcome
    worker            a child process that runs checks under a time limit
    search            the hypothesis-driven loop: generate, classify, shrink, write reproducers
"""
