"""Your data, not ours: a dataset that shares nothing with the demo (table, time column,
grain, dimensions, KPIs) goes through the same path a user takes, from a table, a CSV file
and a Parquet glob: a model file, `kpiscope refresh`, every tab view read by the plain Python
client without the extension, every viewer tab rendered in headless Chromium with no empty
chart or table, and the PDF report rendered by pdftoppm. No code knows this dataset."""

import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))
CLI = Path(os.environ.get("KPISCOPE_DUCKDB_CLI", Path.home() / ".cache/kpiscope/venv-duckdb-1.5.6/bin/duckdb"))
EXAMPLE = REPO / "examples/api_usage"
TABS = ["", "anomalies", "rca", "reports", "ml-rca", "change-points", "forecast", "trends", "compare", "what-if",
        "models", "replay", "actions"]
# The two incidents the example injects, as a reviewer would confirm them.
LABELS = """
CREATE TABLE IF NOT EXISTS kpi_anomaly_labels (ts TIMESTAMP, segment VARCHAR, kpi VARCHAR, label VARCHAR);
INSERT INTO kpi_anomaly_labels
SELECT DISTINCT hour_start, 'datacenter=' || datacenter || ' & plan=' || plan || ' & client=' || client || ' & endpoint=' || endpoint,
       'error_rate', 'checkout errors in fra'
FROM {source} WHERE datacenter = 'fra' AND endpoint = 'checkout'
  AND hour_start BETWEEN TIMESTAMP '2025-04-03 10:00:00' AND TIMESTAMP '2025-04-03 12:00:00';
"""


def run(*args, **kwargs):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kwargs)
    assert out.returncode == 0, f"{args}: {out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """The example table in a database, and the same rows as a CSV file and two Parquet files."""
    assert KPISCOPE.is_file(), f"kpiscope not built at {KPISCOPE}: run `make build`"
    root = tmp_path_factory.mktemp("own")
    db = root / "source.duckdb"
    run(CLI, db, input=(EXAMPLE / "data.sql").read_text())
    (root / "parts").mkdir()
    run(CLI, db, "-c", f"COPY api_usage TO '{root / 'usage.csv'}' (HEADER);"
        f"COPY (FROM api_usage WHERE datacenter = 'fra') TO '{root / 'parts/fra.parquet'}';"
        f"COPY (FROM api_usage WHERE datacenter = 'iad') TO '{root / 'parts/iad.parquet'}';")
    return root


def model(root: Path, source: str) -> Path:
    text = (EXAMPLE / "kpiscope.toml").read_text().replace('table = "api_usage"', source)
    path = root / "kpiscope.toml"
    path.write_text(text)
    return path


def browse(profile: Path, url: str) -> str:
    out = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.parametrize("kind", ["table", "csv", "parquet"])
def test_own_data_goes_through_model_refresh_views_viewer_and_report(data, tmp_path, kind):
    db = tmp_path / "kpis.duckdb"
    if kind == "table":
        shutil.copy(data / "source.duckdb", db)
        source, rows_from = 'table = "api_usage"', "api_usage"
    elif kind == "csv":
        shutil.copy(data / "usage.csv", tmp_path / "usage.csv")
        source, rows_from = 'files = "usage.csv"', f"read_csv('{tmp_path / 'usage.csv'}')"
    else:
        shutil.copytree(data / "parts", tmp_path / "parts")
        source, rows_from = 'files = "parts/*.parquet"', f"read_parquet('{tmp_path / 'parts/*.parquet'}')"
    run(CLI, db, "-c", LABELS.format(source=rows_from))
    run(KPISCOPE, "refresh", "--db", db, "--model", model(tmp_path, source))

    # A BI tool's view of it: read-only, no extension, every tab view filled.
    con = duckdb.connect(str(db), read_only=True)
    views = [r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND view_name LIKE 'tab_%'").fetchall()]
    assert len(views) >= 17
    for view in views:
        if view != "tab_reports":
            assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0, f"{view} is empty ({kind})"
    assert con.execute("SELECT grain, title FROM kpi_refresh").fetchone() == ("hourly", "API usage")
    kpis = {r[0] for r in con.execute("SELECT DISTINCT kpi FROM tab_anomalies").fetchall()}
    assert kpis == {"calls", "active_users", "error_rate", "errors"}
    # The injected error spike is flagged and explained by the right place.
    causes = {r[0] for r in con.execute(
        "SELECT segment FROM tab_root_cause WHERE kpi = 'error_rate' AND is_root_cause "
        "AND ts = TIMESTAMP '2025-04-03 11:00:00'").fetchall()}
    assert causes & {"datacenter=fra", "endpoint=checkout", "datacenter=fra & endpoint=checkout"}, causes
    con.close()

    reports = tmp_path / "reports"
    run(KPISCOPE, "report", "--db", db, "--out", reports)
    pdf = next(reports.glob("*.pdf"))
    run("pdftoppm", "-r", "40", "-png", pdf, tmp_path / "page")
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 3 and all(p.stat().st_size > 2000 for p in pages)

    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(db), "--addr", "127.0.0.1:0",
                               "--reports", str(reports)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+", server.stdout.readline()).group(0)
        for tab in TABS:
            html = browse(tmp_path / "profile", url + tab)
            assert "Data as of 2025-04-06 23:00" in html, f"{tab}: no stamp ({kind})"
            assert "<table>" in html and "No rows." not in html, f"{tab}: an empty table ({kind})"
            if tab != "reports":
                assert "<svg" in html and ">no data<" not in html, f"{tab}: an empty chart ({kind})"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_init_proposes_a_model_that_refreshes(data, tmp_path):
    shutil.copy(data / "usage.csv", tmp_path / "usage.csv")
    model = tmp_path / "kpiscope.toml"
    run(KPISCOPE, "init", "--source", tmp_path / "usage.csv", "--out", model)
    text = model.read_text()
    assert 'time = "hour_start"' in text and 'grain = "hourly"' in text, text
    assert 'dimensions = ["datacenter", "plan", "client", "endpoint"]' in text, text
    assert 'sum = "calls"' in text and 'count_distinct = "user_id"' in text, text
    db = tmp_path / "new.duckdb"
    run(CLI, db, "-c", "SELECT 1")
    run(KPISCOPE, "refresh", "--db", db, "--model", model)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(DISTINCT kpi) FROM tab_anomalies").fetchone()[0] >= 3
    con.close()


@pytest.mark.parametrize("edit, message", [
    (('sum = "calls"', 'sum = "call_count"'), ':15: column "call_count" not found in the source; columns are: hour_start'),
    (('numerator = "errors"', 'numerator = "plan"'), 'sums "plan", which is VARCHAR, not a number'),
    (('"client", "endpoint"]', '"client", "country"]'), ':9: column "country" not found in the source'),
    (('grain = "hourly"', 'grain = "monthly"'), ':8: grain must be daily, hourly or weekly, got "monthly"'),
])
def test_model_mistakes_are_refused_with_the_line_and_the_fix(data, tmp_path, edit, message):
    db = tmp_path / "kpis.duckdb"
    shutil.copy(data / "source.duckdb", db)
    text = (EXAMPLE / "kpiscope.toml").read_text()
    assert edit[0] in text
    model = tmp_path / "kpiscope.toml"
    model.write_text(text.replace(edit[0], edit[1]))
    out = subprocess.run([str(KPISCOPE), "refresh", "--db", str(db), "--model", str(model)], capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert str(model) in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


def test_a_dimension_with_too_many_values_is_refused(tmp_path):
    db = tmp_path / "ids.duckdb"
    run(CLI, db, "-c", "CREATE TABLE t AS SELECT DATE '2024-01-01' + (i % 30)::INT AS d, 'u' || i AS visitor, 1 AS n "
                       "FROM range(20000) r(i)")
    model = tmp_path / "kpiscope.toml"
    model.write_text('[source]\ntable = "t"\ntime = "d"\ndimensions = ["visitor"]\n[[kpis]]\nkey = "n"\nsum = "n"\n')
    out = subprocess.run([str(KPISCOPE), "refresh", "--db", str(db), "--model", str(model)], capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert 'kpiscope.toml:4: dimension "visitor" has 20000 values (at most 10000)' in out.stderr, out.stderr
    assert "count_distinct" in out.stderr


def test_a_model_without_dimensions_refreshes_and_its_views_read(tmp_path):
    db = tmp_path / "flat.duckdb"
    run(CLI, db, "-c", "CREATE TABLE visits AS SELECT DATE '2024-01-01' + i::INT AS d, "
                       "100 + 10 * sin(i / 7.0 * 6.283) + (i * 37 % 11) AS n FROM range(120) r(i)")
    model = tmp_path / "kpiscope.toml"
    model.write_text('[source]\ntable = "visits"\ntime = "d"\n[[kpis]]\nkey = "visits"\nsum = "n"\n')
    run(KPISCOPE, "refresh", "--db", db, "--model", model)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM tab_anomalies").fetchone()[0] == 120
    assert con.execute("SELECT count(*) FROM tab_forecast WHERE is_forecast").fetchone()[0] == 30
    assert con.execute("SELECT count(*) FROM tab_root_cause").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM tab_trends WHERE dimension = 'all'").fetchone()[0] == 120
    con.close()
