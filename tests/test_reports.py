"""HTML model reports and model cards: every section, no raw ID, attached to MLflow, and rendered by
headless Chromium into a page whose plots are not empty."""

from __future__ import annotations

import base64
import io
import re
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
from typer.testing import CliRunner

from scoring.cli import app
from scoring.core.privacy import contains_raw_id
from tests.browser import chromium

SECTIONS = (
    "区分能力 Discrimination",
    "校准 Calibration",
    "等级分布",
    "单调性检验 Monotonicity check",
    "数据依据 Data basis",
    "模型卡 Model card",
    "公平性审计 Fairness audit",
    "法律依据 Legal basis",
)


def screenshot(html_path, png_path, tmp_path, height: int = 4000):
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        f"--window-size=1200,{height}",
        f"--screenshot={png_path}",
        html_path.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=180)


def _ink(img) -> float:
    """Share of pixels that are not (near) white."""
    a = np.asarray(img.convert("L"), dtype=float)
    return float((a < 235).mean())


class _Page(HTMLParser):
    """The visible text of a page (no style, no script) and its tables as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._skip = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "title"):
            self._skip += 1
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def regulator_language(text: str) -> None:
    """The grade report speaks the regulator's language: grades 优秀..差 (never the English class
    labels), the baseline comparison the fit logged, each grade's outcome rate with its 95%
    interval, and its share against the platform's target."""
    from scoring.features.industry import GRADES, GRADES_EN

    page = _Page()
    page.feed(text)
    visible = " ".join(page.text)
    for en in GRADES_EN + ("no outcome",):
        assert not re.search(rf"\b{en}\b", visible, re.IGNORECASE), en
    assert not re.search(r"\b[0-4]: ", visible)  # no "0: excellent"-style class titles
    tables = {tuple(t[0]): t[1:] for t in page.tables if t}
    grade_table = next(rows for head, rows in tables.items() if "结果发生率95%置信区间" in head)
    head = next(h for h in tables if "结果发生率95%置信区间" in h)
    col = {h: i for i, h in enumerate(head)}
    assert [r[col["信用等级"]] for r in grade_table] == list(GRADES)
    for r in grade_table:
        assert r[col["目标占比"]].endswith("%") and r[col["是否在允许偏差内"]] in ("是", "否")
        if int(r[col["主体数"]]):
            lo, hi = (float(x.rstrip("%")) for x in r[col["结果发生率95%置信区间"]].split(" – "))
            assert lo <= float(r[col["结果发生率"]].rstrip("%")) <= hi
    assert [r[col["目标占比"]] for r in grade_table] == ["2.3%", "76.4%", "20.0%", "1.3%", "0.0%"]
    base_head = next(h for h in tables if "模型" in h and "AUC" in h)
    models = [r[0] for r in tables[base_head]]
    assert {"行业模型（LightGBM）", "专家评分表", "有序逻辑回归"} <= set(models)
    assert "基准模型对比" in visible and "QWK（与专家等级）" in base_head
    assert "目标占比" in visible and "直接定级" in visible


@pytest.mark.parametrize("kind", ["grades", "points"])
def test_report_renders_with_plots_and_no_raw_id(registered, tmp_path, kind):
    from mlflow import MlflowClient
    from PIL import Image

    path, uri = registered
    args = [
        "report",
        kind,
        "--store",
        str(path),
        "--tracking-uri",
        uri,
        "--out-dir",
        str(tmp_path / "reports"),
        "--json",
    ]
    if kind == "grades":
        args[2:2] = ["--industry", "construction"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    import json

    d = json.loads(r.stdout)
    html_path = tmp_path / "reports" / d["report"].split("/reports/")[-1]
    text = html_path.read_text(encoding="utf-8")
    for s in SECTIONS if kind == "grades" else [s for s in SECTIONS if s != "等级分布"] + ["积分分布"]:
        assert s in text, s
    if kind == "grades":
        regulator_language(text)
    assert not contains_raw_id(text)
    arts = [a.path for a in MlflowClient(uri).list_artifacts(d["mlflow_run_id"], "reports")]
    assert "reports/report.html" in arts
    # every embedded plot is a real, non-blank image
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(imgs) == 5
    for b64 in imgs:
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        assert im.size[0] > 200 and im.size[1] > 100 and 0.02 < _ink(im) < 0.9
    # and the page renders in headless Chromium, plots included
    png = tmp_path / "page.png"
    screenshot(html_path, png, tmp_path)
    page = Image.open(png)
    assert page.size == (1200, 4000)
    top = page.crop((0, 0, 1200, 1500))
    assert _ink(top) > 0.03  # text, tables and the first plots are drawn
    # the ROC/KS plots sit in the first screen: blue curves are present
    rgb = np.asarray(top.convert("RGB"), dtype=int)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 80) & (rgb[..., 1] < 140)
    assert blue.sum() > 500
