"""Open every page of a built book in headless Chromium, offline, and check what a reader sees.

    python tools/browser_check.py book/_build/html [--width 1280] [--max-height 5000]

Each page is loaded from disk at 1280 px wide with every network request refused, and fails on:
raw TeX left in the rendered text, a table wider than its column without a scrolling box around it,
a number split across two lines, "NaN" in visible text, a chapter page taller than the height target
(the API reference and Sphinx's own index pages are exempt), a local link or image that does not
resolve. Prints one line per failure and a summary; exits 1 on any failure, 0 otherwise, and 0 with one
line when Chromium or its driver is not installed (``apt-get install chromium chromium-driver``).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXEMPT_FROM_HEIGHT = ("api.html", "genindex.html", "search.html", "py-modindex.html")
EXEMPT_FROM_NAN = ("api.html",)
"""The API reference documents how NaN is handled, so the word is part of its text."""
SKIP_PAGES = ("genindex.html", "search.html", "py-modindex.html")

PAGE_PROBE = r"""
const done = arguments[arguments.length - 1];
const typeset = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
const ready = Promise.race([typeset, new Promise(r => setTimeout(r, 15000))]);
ready.then(() => {
  const main = document.querySelector("main") || document.body || document.documentElement;
  const hidden = el => !(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const skip = "pre, code, script, style, mjx-container, .cell_input, .highlight, mjx-assistive-mml";
  const texts = [];
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || el.closest(skip) || hidden(el) || el.closest("details:not([open]) > :not(summary)")) continue;
    texts.push(node);
  }
  const rawTex = [], nan = [], split = [];
  const tex = /\\(frac|hat|mathrm|mathbf|operatorname|sum|theta|lambda|sqrt|left|right|cdot|top|in|le|ge|_)(?![a-z])|\$\$/;
  const number = /(?<![\w.\-−])[−\-+]?\d[\d,]*(\.\d+)?(e[−\-+]?\d+)?%?/g;
  for (const node of texts) {
    const s = node.textContent;
    if (tex.test(s)) rawTex.push(s.trim().slice(0, 80));
    if (/\bNaN\b/.test(s)) nan.push(s.trim().slice(0, 80));
    let m;
    number.lastIndex = 0;
    while ((m = number.exec(s)) !== null) {
      if (m[0].length < 2) continue;
      const r = document.createRange();
      r.setStart(node, m.index);
      r.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(r.getClientRects()).filter(x => x.width > 0).map(x => Math.round(x.top)));
      if (tops.size > 1) split.push(m[0]);
    }
  }
  const overflow = [];
  for (const t of main.querySelectorAll("table")) {
    if (hidden(t)) continue;
    let box = t.parentElement, scrolls = false;
    for (let el = t.parentElement; el && el !== main.parentElement; el = el.parentElement) {
      const ox = getComputedStyle(el).overflowX;
      if (ox === "auto" || ox === "scroll") { scrolls = true; box = el; break; }
    }
    const limit = (scrolls ? box : main).getBoundingClientRect();
    if (!scrolls && t.getBoundingClientRect().right > limit.right + 1)
      overflow.push((t.querySelector("th, td") || t).textContent.trim().slice(0, 40));
  }
  const images = Array.from(document.images).filter(i => i.complete && i.naturalWidth === 0).map(i => i.getAttribute("src"));
  const links = Array.from(document.querySelectorAll("a[href]")).map(a => a.getAttribute("href"));
  const sources = Array.from(document.querySelectorAll("img[src], script[src], link[href]"))
    .map(e => e.getAttribute("src") || e.getAttribute("href"));
  done({height: document.documentElement.scrollHeight, rawTex, nan, split, overflow, images, links, sources});
}).catch(e => done({error: String(e)}));
"""


def local_target(page: Path, ref: str) -> Path | None:
    """The file a relative link of `page` points to, or None for external, anchor-only or data links."""
    parts = urlsplit(ref)
    if parts.scheme or parts.netloc or not parts.path:
        return None
    return (page.parent / unquote(parts.path)).resolve()


def page_failures(page: Path, probe: dict, root: Path, max_height: int) -> list[str]:
    """Every failure of one page, one line each, from what the browser `probe` measured."""
    name = page.relative_to(root).as_posix()
    if "error" in probe:
        return [f"{name}: the page could not be checked: {probe['error']}"]
    out = [f"{name}: raw TeX in the text: {t!r}" for t in probe["rawTex"][:3]]
    out += [f"{name}: NaN in visible text: {t!r}" for t in probe["nan"][:3] if page.name not in EXEMPT_FROM_NAN]
    out += [f"{name}: a number split across lines: {t!r}" for t in sorted(set(probe["split"]))[:5]]
    out += [f"{name}: a table overflows without a scroll box (first cell {t!r})" for t in probe["overflow"]]
    out += [f"{name}: image does not load: {src}" for src in probe["images"]]
    if probe["height"] > max_height and page.name not in EXEMPT_FROM_HEIGHT:
        out.append(f"{name}: {probe['height']} px tall at this width (target ≤ {max_height} px)")
    for ref in {*probe["links"], *probe["sources"]}:
        target = local_target(page, ref)
        if target is not None and not target.exists():
            out.append(f"{name}: broken local link {ref}")
    return out


def make_driver(width: int):
    """Headless Chromium at `width` px, with every host but the local files unresolvable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--allow-file-access-from-files"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(60)
    return driver


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built book's HTML folder (book/_build/html)")
    parser.add_argument("--width", type=int, default=1280, help="window width in px (default 1280)")
    parser.add_argument("--max-height", type=int, default=5000, help="height target of a chapter page in px")
    args = parser.parse_args(argv)
    if not (shutil.which("chromium") or shutil.which("chromium-browser")) or not shutil.which("chromedriver"):
        print("browser check skipped: chromium and chromedriver are not installed "
              "(apt-get install chromium chromium-driver)")
        return 0
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("browser check skipped: selenium is not installed (pip install -e '.[browser]')")
        return 0
    root = args.html.resolve()
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts and p.name not in SKIP_PAGES
                   and 'http-equiv="refresh"' not in p.read_text(encoding="utf-8", errors="replace")[:2000])
    if not pages:
        print(f"browser check: no HTML pages under {args.html}; build the book first")
        return 1
    driver = make_driver(args.width)
    failures: list[str] = []
    try:
        for page in pages:
            driver.get(page.as_uri())
            probe = driver.execute_async_script(PAGE_PROBE)
            if "error" in probe:  # measured while the page was still loading: once more, once it has
                time.sleep(2)
                probe = driver.execute_async_script(PAGE_PROBE)
            failures += page_failures(page, probe, root, args.max_height)
    finally:
        driver.quit()
    for line in failures:
        print(line)
    print(f"browser check: {len(pages)} pages at {args.width} px, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
