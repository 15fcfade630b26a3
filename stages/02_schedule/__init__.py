"""Stage 02 — the scheduler (`shrimpgrad.schedule`): lazy graph -> ordered list of fused Kernels.

    create_schedule(roots) -> Schedule          which nodes get buffers, which ops share a kernel
    run_schedule_numpy(schedule, buffers)        the reference evaluator (kernel by kernel, numpy)
    print_schedule(schedule)                     the DEBUG=2 table

See README.md in this folder.
"""

from shrimpgrad.graph.notebook import attach_reprs, viz_exports

from .cost import kernel_bytes, kernel_flops
from .fuse import ScheduleError
from .kernel import Kernel, KernelError, KNode, KOps
from .rules import Boundary
from .run_numpy import RunError, read_outputs, run_kernel_numpy, run_schedule_numpy
from .schedule import SCHEDULE_PASSES, BufferInfo, Schedule, create_schedule, verify, verify_schedule

__all__ = ["Kernel", "KernelError", "KNode", "KOps", "verify",
           "create_schedule", "Schedule", "BufferInfo", "Boundary", "ScheduleError", "SCHEDULE_PASSES",
           "verify_schedule", "kernel_flops", "kernel_bytes",
           "run_schedule_numpy", "run_kernel_numpy", "read_outputs", "RunError",
           "print_schedule", "format_schedule", "format_kernel", "schedule_table", "to_dot"]

# Pictures (viz.py): `rich.print(s)` is the schedule table, `s.to_dot()` the graphviz picture, and `s` alone in a
# notebook cell shows it as SVG. Attached here so schedule.py never imports viz.py (which imports it).
attach_reprs(Schedule, f"{__name__}.viz", rich="schedule_table", picture="to_dot", text="format_schedule")
__getattr__ = viz_exports(__name__, "format_kernel", "format_schedule", "print_schedule", "schedule_table", "to_dot")
