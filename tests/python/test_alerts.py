"""`kpiscope alert` against HTTP receivers this test starts on 127.0.0.1: each new incident
arrives once per channel, a rerun sends nothing, a receiver that fails twice gets each message
exactly once, local SMTP servers get one email per incident (one plain, one that requires
STARTTLS and a login: the client trusts its certificate through the channel's ca_file and takes
the credentials from the environment; without the ca_file it refuses to send), and a receiver
that is down makes the exit code 1 while the others deliver."""

import json
import os
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

REPO = Path(__file__).resolve().parents[2]
KPISCOPE = Path(os.environ.get("KPISCOPE_BIN", REPO / "build/release/kpiscope"))


class Receiver:
    """A webhook endpoint that answers 500 to its first `failures` requests, then 200."""

    def __init__(self, failures: int = 0):
        self.failures, self.requests, self.accepted = failures, 0, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests += 1
                ok = receiver.requests > receiver.failures
                if ok:
                    receiver.accepted.append(body)
                self.send_response(200 if ok else 500)
                self.end_headers()
                self.wfile.write(b"ok" if ok else b"busy")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps every message it is handed. Given a TLS context it
    takes mail only after STARTTLS and a login as kpiscope / s3cret, and notes both."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.messages, self.sessions = [], []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                mailbox.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
                mailbox.sessions.append((session.ssl is not None, session.authenticated))
                return "250 OK"

        def login(server, session, envelope, mechanism, auth):
            return AuthResult(success=(auth.login, auth.password) == (b"kpiscope", b"s3cret"))

        options = dict(tls_context=tls, require_starttls=True, authenticator=login, auth_required=True) if tls else {}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=free_port(), **options)
        self.controller.start()


def certificates(folder: Path) -> ssl.SSLContext:
    """A test certificate authority (folder/ca.pem) and a server certificate for 127.0.0.1 that
    it signed, made with the openssl command line; returns the server's TLS context."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl = lambda *a: run("openssl", *a)  # noqa: E731
    openssl("req", "-x509", *ec, "-keyout", folder / "ca.key", "-out", folder / "ca.pem", "-days", "2",
            "-subj", "/CN=kpiscope test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", *ec, "-keyout", folder / "server.key", "-out", folder / "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                       "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", folder / "server.csr", "-CA", folder / "ca.pem", "-CAkey", folder / "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", folder / "server.ext", "-out", folder / "server.pem")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, code=0):
    out = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert out.returncode == code, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    return out


def test_new_incidents_arrive_once_per_channel_with_retries_and_a_channel_down(tmp_path):
    db = tmp_path / "shop.duckdb"
    run(KPISCOPE, "demo", "--db", db, "--days", "150", "--anomalies", "10")
    con = duckdb.connect(str(db))
    split = con.execute("SELECT max(day) - 40 FROM kpi_daily").fetchone()[0]
    con.execute("CREATE TABLE later AS FROM kpi_daily WHERE day > $1", [split])
    con.execute("DELETE FROM kpi_daily WHERE day > $1", [split])
    con.close()
    run(KPISCOPE, "refresh", "--db", db)

    hook, slack, mailbox = Receiver(), Receiver(failures=2), Mailbox()
    secure = Mailbox(tls=certificates(tmp_path))
    config = tmp_path / "alerts.toml"
    config.write_text(f"""viewer_url = "http://127.0.0.1:8080/"
retries = 3
retry_delay_ms = 10

[[channel]]
name = "ops"
kind = "webhook"
url = "{hook.url}"

[[channel]]
name = "slack"
kind = "slack"
url_env = "KPISCOPE_TEST_SLACK_URL"
min_severity = "major"

[[channel]]
name = "teams"
kind = "teams"
url = "http://127.0.0.1:{free_port()}/down"

[[channel]]
name = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {mailbox.controller.port}
starttls = false
from = "kpiscope@example.com"
to = ["oncall@example.com", "growth@example.com"]

[[channel]]
name = "mail-tls"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {secure.controller.port}
ca_file = "ca.pem"
username_env = "KPISCOPE_TEST_SMTP_USER"
password_env = "KPISCOPE_TEST_SMTP_PASSWORD"
from = "kpiscope@example.com"
to = ["oncall@example.com"]

[[channel]]
name = "mail-untrusted"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {secure.controller.port}
username_env = "KPISCOPE_TEST_SMTP_USER"
password_env = "KPISCOPE_TEST_SMTP_PASSWORD"
from = "kpiscope@example.com"
to = ["oncall@example.com"]
""")
    secrets = {"KPISCOPE_TEST_SLACK_URL": slack.url, "KPISCOPE_TEST_SMTP_USER": "kpiscope",
               "KPISCOPE_TEST_SMTP_PASSWORD": "s3cret"}
    env_run = lambda *a, code=0: subprocess.run(  # noqa: E731
        [str(x) for x in a], capture_output=True, text=True, env={**os.environ, **secrets})

    # A dry run before the first real one prints and leaves no log behind.
    dry = env_run(KPISCOPE, "alert", "--db", db, "--config", config, "--dry-run")
    assert dry.returncode == 0 and not (tmp_path / "shop.alerts.duckdb").exists(), dry.stderr
    assert not hook.accepted

    # First run: history is recorded, not sent (only incidents still running would go out).
    first = env_run(KPISCOPE, "alert", "--db", db, "--config", config)
    con = duckdb.connect(str(db), read_only=True)
    ongoing = con.execute("SELECT count(*) FROM kpi_incidents WHERE end_ts = (SELECT max(ts) FROM kpi_anomalies)")
    ongoing = ongoing.fetchone()[0]
    con.close()
    assert len(hook.accepted) == ongoing, first.stderr

    con = duckdb.connect(str(db))
    con.execute("INSERT INTO kpi_daily FROM later")
    con.close()
    run(KPISCOPE, "refresh", "--db", db, "--incremental")
    con = duckdb.connect(str(db), read_only=True)
    new = con.execute("SELECT kpi || '|' || CAST(start_ts AS VARCHAR) || '|' || direction, peak_severity "
                      "FROM kpi_incidents WHERE start_ts > $1", [split]).fetchall()
    con.close()
    assert new, "the held-back days must hold incidents"
    before = len(hook.accepted)
    second = env_run(KPISCOPE, "alert", "--db", db, "--config", config)
    assert second.returncode == 1, second.stderr  # teams is down
    assert "teams: sent 0, failed" in second.stderr and "failed after 4 attempts" in second.stdout

    keys = [b["incident"] for b in hook.accepted[before:]]
    assert sorted(keys) == sorted(k for k, _ in new), "every new incident exactly once"
    body = hook.accepted[-1]
    assert body["schema"] == "kpiscope.alert/1" and body["url"].startswith("http://127.0.0.1:8080/rca?kpi=")
    assert {"actual", "expected", "severity", "root_causes", "summary"} <= set(body)
    # Slack failed twice, then took every message once; it is routed major and critical only.
    slack_texts = [b["text"] for b in slack.accepted]
    assert len(slack_texts) == len(set(slack_texts))
    assert len(slack_texts) >= sum(1 for _, s in new if s in ("major", "critical"))
    assert slack.requests == len(slack.accepted) + 2

    # Email: one message per incident to every recipient, with the summary in the body.
    subjects = [m[2].split("Subject: ", 1)[1].split("\n", 1)[0] for m in mailbox.messages]
    assert len(mailbox.messages) == len(hook.accepted) and len(set(subjects)) == len(subjects)
    assert mailbox.messages[-1][1] == ["oncall@example.com", "growth@example.com"]
    assert "actual" in mailbox.messages[-1][2] and subjects[-1].startswith("kpiscope: ")
    # The same over STARTTLS with the login from the environment; the channel that does not
    # trust the server's certificate sent nothing, in plain or otherwise.
    assert len(secure.messages) == len(mailbox.messages) and set(secure.sessions) == {(True, True)}
    assert "mail-untrusted: sent 0, failed" in second.stderr

    # A rerun sends nothing new; the channel that stayed down is retried and still fails.
    counts = (len(hook.accepted), len(slack.accepted), len(mailbox.messages), len(secure.messages))
    third = env_run(KPISCOPE, "alert", "--db", db, "--config", config)
    assert third.returncode == 1 and counts == (len(hook.accepted), len(slack.accepted), len(mailbox.messages),
                                                len(secure.messages))
    log = duckdb.connect(str(tmp_path / "shop.alerts.duckdb"), read_only=True)
    statuses = dict(log.execute("SELECT channel || ':' || status, count(*) FROM kpi_alerts GROUP BY 1").fetchall())
    untrusted = log.execute("SELECT any_value(response) FROM kpi_alerts "
                            "WHERE channel = 'mail-untrusted' AND status = 'failed'").fetchone()
    log.close()
    assert statuses.get("teams:failed", 0) >= len(new) and "teams:sent" not in statuses
    assert statuses.get("mail-untrusted:failed", 0) >= len(new) and "mail-untrusted:sent" not in statuses
    assert "certificate" in untrusted[0].lower(), untrusted

    # --history: per channel and KPI, the incidents the routing would have sent, and the rate.
    history = env_run(KPISCOPE, "alert", "--db", db, "--config", config, "--history")
    assert history.returncode == 0, history.stderr
    con = duckdb.connect(str(db), read_only=True)
    per_kpi = dict(con.execute("SELECT kpi, count(*) FROM kpi_incidents GROUP BY kpi").fetchall())
    con.close()
    ops = {line.split("\t")[1]: line.split("\t")[2] for line in history.stdout.splitlines() if line.startswith("ops\t")}
    assert ops and all(ops[k] == f"{n} incidents in 4.9 months" for k, n in per_kpi.items()), (ops, per_kpi)

    # --dry-run prints what it would send and records nothing.
    dry = env_run(KPISCOPE, "alert", "--db", db, "--config", config, "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("[teams] ") >= len(new)
    assert (len(hook.accepted), len(slack.accepted), len(mailbox.messages), len(secure.messages)) == counts

    # The report says under each new incident what went out where, and what failed.
    run(KPISCOPE, "report", "--db", db, "--out", tmp_path / "reports", "--format", "md")
    (md,) = (tmp_path / "reports").glob("*.md")
    follow_ups = [line for line in md.read_text().splitlines() if line.startswith("Alerts: ")]
    assert follow_ups and all("ops sent " in line and "teams failed " in line for line in follow_ups), follow_ups


def test_a_bad_config_is_refused_with_its_reason(tmp_path):
    db = tmp_path / "x.duckdb"
    duckdb.connect(str(db)).close()
    config = tmp_path / "alerts.toml"
    config.write_text("[[channel]]\nname = 'a'\nkind = 'slack'\nurl_env = 'KPISCOPE_NOT_SET_ANYWHERE'\n")
    out = run(KPISCOPE, "alert", "--db", db, "--config", config, code=1)
    assert "environment variable KPISCOPE_NOT_SET_ANYWHERE is not set" in out.stderr
    config.write_text("[[channel]]\nname = 'a'\nkind = 'webhook'\nurl = 'http://127.0.0.1:9/'\n")
    out = run(KPISCOPE, "alert", "--db", db, "--config", config, code=1)
    assert "run `kpiscope refresh` first" in out.stderr
