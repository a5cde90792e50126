"""The HTML report of `ctxplan sweep`/`plan` (api/templates/report.html)."""

import base64
import re

import pandas as pd

from api.plots import report_html


def test_the_report_inlines_figures_and_tables_and_escapes_every_text():
    page = report_html("sweep <script>x</script>", "best: 2 x h100 & 'more'",
                       [("TTFT <cdf>", "caption & more", b"\x89PNG-1"), ("KV", "second", b"\x89PNG-2")],
                       [("Points", pd.DataFrame({"rate": [1.234567, None], "name": ["a<b", "c"]}))])
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</body></html>")
    assert "<script>" not in page and "<title>sweep &lt;script&gt;x&lt;/script&gt;</title>" in page
    assert "<p>best: 2 x h100 &amp; &#39;more&#39;</p>" in page
    images = re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']*)'>", page)
    assert [(alt, base64.b64decode(data)) for alt, data in images] == [("TTFT &lt;cdf&gt;", b"\x89PNG-1"),
                                                                       ("KV", b"\x89PNG-2")]
    assert "<figcaption>caption &amp; more</figcaption>" in page
    table = page[page.index("<h2>Points</h2>"):]
    assert table.count("<tr") == 3 and "<td>1.235</td>" in table and "<td>-</td>" in table
    assert "<td>a&lt;b</td>" in table                      # pandas escapes cell text itself


def test_a_report_without_figures_or_tables_is_still_a_page():
    page = report_html("t", "s", [], [])
    assert "<h1>t</h1><p>s</p>" in page and "<figure>" not in page and "<table" not in page

