"""The benchmark suite's smoke run: every workload computes what its numpy twin computes (a fast benchmark of a
wrong answer is worthless) and the table has a row for each. No time is asserted: machines are noisy."""

import importlib.util
import pathlib
import sys

_BENCH = pathlib.Path(__file__).parents[1] / "benchmarks" / "bench_ops.py"
_spec = importlib.util.spec_from_file_location("bench_ops", _BENCH)
bench_ops = importlib.util.module_from_spec(_spec)
sys.modules["bench_ops"] = bench_ops  # its dataclasses look their module up
_spec.loader.exec_module(bench_ops)


def test_the_quick_suite_runs_and_checks_every_result():
    table = bench_ops.run_suite(quick=True)  # run_suite checks each workload against numpy before timing it
    for wid in ("W1", "W2", "W2b", "W3", "W4", "W5"):
        assert f"| {wid} |" in table
    assert "W6 MLP" in table and "TinyJit" in table and "Ceilings measured in this run" in table


def test_write_replaces_only_its_own_section(tmp_path, monkeypatch):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\nintro\n\n## Older section\n\nkept\n")
    monkeypatch.setattr(bench_ops, "ROOT", tmp_path)
    bench_ops.write_benchmarks_md("table one\n")
    bench_ops.write_benchmarks_md("table two\n")
    text = md.read_text()
    assert "table two" in text and "table one" not in text and "kept" in text and text.count(bench_ops.START) == 1
