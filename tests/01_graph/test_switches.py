"""graph.switches: the on/off environment switches every stage reads."""

import pytest

from shrimpgrad.graph.switches import SwitchError, switch

ENV = "SHRIMPGRAD_TEST_SWITCH"


@pytest.mark.parametrize("default", [True, False])
def test_unset_and_empty_mean_the_default(monkeypatch, default):
    monkeypatch.delenv(ENV, raising=False)
    assert switch(ENV, default) is default
    monkeypatch.setenv(ENV, "")
    assert switch(ENV, default) is default


@pytest.mark.parametrize("value, on", [("1", True), ("0", False)])
def test_one_and_zero(monkeypatch, value, on):
    monkeypatch.setenv(ENV, value)
    assert switch(ENV) is on
    assert switch(ENV, default=False) is on


def test_read_at_every_call(monkeypatch):
    monkeypatch.setenv(ENV, "0")
    assert switch(ENV) is False
    monkeypatch.setenv(ENV, "1")
    assert switch(ENV) is True


@pytest.mark.parametrize("value", ["off", "false", "no", "on", "true", " 0", "2"])
def test_any_other_value_is_an_error_naming_the_variable(monkeypatch, value):
    """The old reading, `!= "0"`, took "off" for on: the user measured with the optimization still on."""
    monkeypatch.setenv(ENV, value)
    with pytest.raises(SwitchError, match=rf"{ENV}={value!r} is not a switch value; set it to 1 \(on\) or 0 \(off\)"):
        switch(ENV)
    assert issubclass(SwitchError, ValueError)


def test_every_on_off_switch_reads_through_switch():
    """An on/off setting compared by hand (`os.environ.get(X) != "0"`) reads a mistyped value as on; each goes
    through switch() instead (settings with other values, such as SHRIMPGRAD_CONV_IM2COL's `auto`, check their own)."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2]
    by_hand = re.compile(r"environ\.get\([^()]*\)\s*[!=]=\s*[\"'][01][\"']")
    sources = [path for folder in ("shrimpgrad", "stages") for path in (root / folder).rglob("*.py")]
    found = [f"{path.relative_to(root)}:{n}" for path in sources
             for n, line in enumerate(path.read_text().splitlines(), 1) if by_hand.search(line)]
    assert len(sources) > 50  # the scan saw the code
    assert not found, f"compare an on/off switch with graph.switches.switch(), not by hand: {found}"
