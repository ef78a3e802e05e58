"""What a reader sees: tables that fit (`report.tables.tidy`) and the browser check's rules
(`tools/browser_check.py`), on synthetic pages; the check itself runs on a built book (`make browser-check`)."""
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from pgxlib.report.tables import MISSING, significant, tidy

ROOT = Path(__file__).resolve().parents[1]


def _browser_check():
    spec = importlib.util.spec_from_file_location("browser_check", ROOT / "tools" / "browser_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_significant_gives_three_digits_and_a_dash_for_missing():
    assert [significant(v) for v in (13909.2, 0.28149, -12.34, 4e-8, 0.0)] == ["13,909", "0.281", "-12.3", "4.00e-08", "0"]
    assert significant(None) == significant(float("nan")) == MISSING
    assert significant(True) == "True"


def test_tidy_moves_constant_columns_to_the_caption_and_explains_missing_values():
    frame = pd.DataFrame({"gain": [1.23456, np.nan], "k": [3, 3], "family": ["a", "b"]})
    html = tidy(frame, "Gains", missing_why="no θ* at this budget").to_html()
    assert "<caption>Gains. k = 3. –: no θ* at this budget.</caption>" in html
    assert ">k<" not in html and "NaN" not in html and "nan" not in html
    assert 'class="data row0 col0 pgx-num" >1.23<' in html
    assert 'class="data row1 col0 pgx-num" >–<' in html


def test_tidy_keeps_every_column_of_a_one_row_table():
    html = tidy(pd.DataFrame({"k": [3]})).to_html()
    assert ">k<" in html and "<caption>" not in html


def test_browser_rules_name_each_failure_once(tmp_path):
    check = _browser_check()
    (tmp_path / "img.png").write_bytes(b"")
    page = tmp_path / "chapter.html"
    probe = {"height": 6200, "rawTex": ["\\hat f_i(S)"], "nan": ["NaN"], "split": ["13.909", "13.909"],
             "overflow": ["bound"], "images": ["missing.png"], "links": ["#top", "https://x.org", "gone.html",
                                                                         "img.png"], "sources": []}
    lines = check.page_failures(page, probe, tmp_path, max_height=5000)
    assert lines == ["chapter.html: raw TeX in the text: '\\\\hat f_i(S)'",
                     "chapter.html: NaN in visible text: 'NaN'",
                     "chapter.html: a number split across lines: '13.909'",
                     "chapter.html: a table overflows without a scroll box (first cell 'bound')",
                     "chapter.html: image does not load: missing.png",
                     "chapter.html: 6200 px tall at this width (target ≤ 5000 px)",
                     "chapter.html: broken local link gone.html"]
    api = tmp_path / "api.html"
    clean = dict(probe, rawTex=[], nan=[], split=[], overflow=[], images=[], links=[])
    assert check.page_failures(api, clean, tmp_path, max_height=5000) == []


def test_scorecard_numbers_never_break_across_lines():
    from pgxlib.report.scorecard_view import nowrap_numbers, text_html

    span = '<span style="white-space:nowrap">'
    assert nowrap_numbers("gap -3.5e-05% on 2026-11-30T15:08:20, commit 4c9626c6de") == (
        f"gap {span}-3.5e-05%</span> on {span}2026-11-30T15:08:20</span>, commit 4c9626c6de")
    assert text_html("run `pgx run x -p seed 2` for 13,909 s") == (
        f"run <code>pgx run x -p seed 2</code> for {span}13,909</span> s")
