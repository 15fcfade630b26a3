"""The HTML report in a real headless browser: Debian's Chromium and ChromeDriver, driven by Selenium.

Clicking a line of C must light up the graph node it came from and the user's Python line; clicking a kernel
its graph nodes. A screenshot is kept as an artifact in .artifacts/ (or $SHRIMPGRAD_ARTIFACTS). Chromium is
installed by scripts/ensure_chromium.sh when missing (as root with apt-get); without it the test skips and
says why."""

import os
import runpy
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from shrimpgrad.explain import capture
from shrimpgrad.graph import Ops
from shrimpgrad.linearize import UOps

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SHRIMPGRAD_ARTIFACTS", ROOT / ".artifacts"))

PROGRAM = """
import numpy as np
from shrimpgrad import Tensor
x = Tensor(np.arange(12, dtype=np.float32).reshape(3, 4))
y = x * 3
z = (y - 1).relu().sum(axis=1)
z.numpy()
"""


@pytest.fixture(scope="module")
def browser():
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["bash", str(ROOT / "scripts" / "ensure_chromium.sh")], capture_output=True, timeout=600)
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("no headless browser: chromium and chromedriver are not installed and could not be installed "
                    "here (run scripts/ensure_chromium.sh as root, or apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium, "
                                                                  "part of the dev extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1200"):
        options.add_argument(arg)
    options.binary_location = chromium
    d = webdriver.Chrome(service=Service(driver), options=options)  # the OS's driver: nothing downloaded
    yield d
    d.quit()


def test_clicking_a_c_line_lights_its_graph_node_and_python_line(browser, tmp_path):
    from selenium.webdriver.common.by import By

    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent(PROGRAM).lstrip())
    with capture() as c:
        runpy.run_path(str(prog))
    e = c.explanation("prog.py", cuda=False)
    e.script = str(prog)
    report = tmp_path / "report.html"
    e.save_html(report)

    # what the click must find, from the model: the C line of the float multiply (line 4: y = x * 3) ...
    (k,) = e.kernels
    mul_line, *_ = [n for n, line in enumerate(k.c.lines, start=1) if line.uop is not None
                   and k.c.program.uops[line.uop].op is UOps.ALU and k.c.program.uops[line.uop].arg is Ops.MUL
                   and k.c.program.uops[line.uop].dtype.is_float]
    # ... and the graph node it came from: the MUL node made on line 4
    graph = e.realizations[0].graph
    (mul_node,) = [i for i, n in enumerate(graph) if n.op is Ops.MUL and n.meta is not None and n.meta.line == 4]

    browser.get(report.as_uri())
    line = browser.find_element(By.CSS_SELECTOR, f".kpane.shown .srcline.c[data-n='{mul_line}']")
    assert "ALU MUL" in line.text and "prog.py:4" in line.text
    line.click()
    assert "sel" in line.get_attribute("class").split()
    lit_python = [el.get_attribute("data-line") for el in browser.find_elements(By.CSS_SELECTOR, ".pyline.hl")]
    assert lit_python == ["4"], lit_python
    lit_graph = {el.get_attribute("id").rsplit("_", 1)[1]
                 for el in browser.find_elements(By.CSS_SELECTOR, "g.gnode.hl")}
    assert str(mul_node) in lit_graph, (mul_node, lit_graph)
    for i in map(int, lit_graph):  # nothing from another line lights up
        assert graph[i].meta is not None and graph[i].meta.line == 4, graph[i]
    lit_uops = browser.find_elements(By.CSS_SELECTOR, ".kpane.shown tr.uop.sel")
    assert len(lit_uops) == 1 and "MUL" in lit_uops[0].text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "explain_report_click.png"))

    # a kernel: its graph nodes get the kernel outline
    browser.find_element(By.CSS_SELECTOR, "tr.kernel").click()
    kernel_nodes = browser.find_elements(By.CSS_SELECTOR, "g.gnode.kin")
    assert len(kernel_nodes) == len(k.graph_nodes) > 0
    # a Python line: the C lines it became light up
    browser.find_element(By.CSS_SELECTOR, ".pyline.made[data-line='5']").click()
    lit_c = [el.text for el in browser.find_elements(By.CSS_SELECTOR, ".kpane.shown .srcline.hl")]
    assert lit_c and all("prog.py:5" in t for t in lit_c), lit_c
