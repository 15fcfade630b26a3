"""On/off switches read from the environment, the same way in every stage.

    from shrimpgrad.graph.switches import switch
    if switch("SHRIMPGRAD_FUSE_ROWS"):      # unset, "" or "1": on; "0": off
        ...

Each optimization a learner can turn off (stage 02's row kernels, stage 04's opts rules, stage 05's rules) is one
such switch. A switch is read at every call, not once at import, so a test or a notebook cell can flip it between
two realizes and see the effect. Only "1" and "0" are values: `SHRIMPGRAD_FUSE_ROWS=off` (or `false`, `no`) is an
error naming the variable, because reading it as "not 0, so on" would leave the optimization on while the user
believes it off, and every measurement that follows would be silently wrong.

The graph stage holds this module because every stage imports the graph stage (and none imports the front end).
"""

from __future__ import annotations

import os


class SwitchError(ValueError):
    """An on/off environment switch set to something other than 1 or 0."""


def switch(env: str, default: bool = True) -> bool:
    """$`env` as on/off: "1" -> True, "0" -> False, unset or "" -> `default`; any other value raises SwitchError."""
    value = os.environ.get(env)
    if not value:
        return default
    if value == "1":
        return True
    if value == "0":
        return False
    raise SwitchError(f"shrimpgrad: {env}={value!r} is not a switch value; set it to 1 (on) or 0 (off), or unset "
                      f"it (the default, {'on' if default else 'off'})")
