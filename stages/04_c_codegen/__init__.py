"""Stage 04 — C code generation (`shrimpgrad.c`): a UOp Program -> C source -> shared object -> run.

See README.md in this folder.
"""
