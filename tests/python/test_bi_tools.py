"""The README's BI connection recipe: SQLAlchemy with duckdb-engine (the driver Superset uses)
reads every tab view read-only while `kpiscope serve` holds the file."""

import os
import re
import subprocess
from pathlib import Path

import sqlalchemy

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))


def test_sqlalchemy_reads_every_tab_view_read_only_while_the_viewer_serves(tmp_path):
    db = tmp_path / "kpi.duckdb"
    out = subprocess.run([str(KPISCOPE), "demo", "--db", str(db), "--days", "90"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    server = subprocess.Popen([str(KPISCOPE), "serve", "--db", str(db), "--addr", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert re.search(r"http://\S+", server.stdout.readline()), "the viewer did not start"
        engine = sqlalchemy.create_engine(f"duckdb:///{db}?access_mode=read_only")
        with engine.connect() as con:
            views = [r[0] for r in con.execute(sqlalchemy.text(
                "SELECT view_name FROM duckdb_views() WHERE view_name LIKE 'tab\\_%' ESCAPE '\\' ORDER BY 1"))]
            assert len(views) >= 15, views
            empty = []
            for view in views:
                result = con.execute(sqlalchemy.text(f'SELECT * FROM "{view}" LIMIT 5'))
                assert result.keys(), view
                if not result.fetchall():
                    empty.append(view)
            assert len(empty) < len(views) // 2, f"most views should hold rows: empty {empty}"
            flagged = con.execute(sqlalchemy.text("SELECT count(*) FROM tab_anomalies WHERE is_anomaly")).scalar()
            assert flagged > 0
            # Read-only means read-only: a write is refused, the file is untouched.
            try:
                con.execute(sqlalchemy.text("CREATE TABLE scratch (x INTEGER)"))
                raise AssertionError("a write went through a read-only connection")
            except sqlalchemy.exc.DBAPIError as e:
                assert "read-only" in str(e).lower()
        engine.dispose()
        # Without read-only, the file's lock is what a BI tool meets while the viewer runs.
        try:
            sqlalchemy.create_engine(f"duckdb:///{db}").connect().close()
            raise AssertionError("a read-write open beside the viewer should be refused")
        except sqlalchemy.exc.DBAPIError as e:
            assert "lock" in str(e).lower(), e
    finally:
        server.terminate()
        server.wait(timeout=30)
