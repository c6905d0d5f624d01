"""The run store: every probe run and every raw probe result, kept in SQLite.

Where: ``--db PATH`` on a command, else ``$PROVENANCE_DB``, else
``$XDG_DATA_HOME/provenance/runs.sqlite3`` (``~/.local/share/...``; macOS
``~/Library/Application Support/provenance``; Windows ``%LOCALAPPDATA%\\provenance``).
``$PROVENANCE_DB_TIMEOUT`` (seconds, default 10) is how long to wait for a
lock held by another process before giving up with StoreError.

API (stable; ``probe``, ``scan``, ``runs``, ``report export`` and ``classify`` use it)::

    store = RunStore.open(path_or_None)          # creates/migrates; StoreError if unusable
    scan_id = store.start_scan(source, settings_dict)
    run_id = store.start_run(target, probeset, scan_id=None, entrant=None, run_id=None)
    store.record_result(run_id, probe_result)    # committed at once (one row per probe)
    store.finish_run(run_id, report)             # status complete (failed if no probe succeeded,
                                                 #   partial if the deadline cut probes: resumable)
    store.interrupt_run(run_id, "why")           # status interrupted (Ctrl-C): resumable
    store.reopen_run(run_id)                     # a resumed run is running again
    store.fail_run(run_id, "one-line reason")    # the pipeline itself broke
    store.finish_scan(scan_id, summary_dict)
    store.load_results(run_id) -> list[ProbeResult]
    store.load_transcript(run_id) -> Transcript  # for re-classification
    store.load_report(run_id) -> dict            # ConfigError if unknown or unfinished
    store.get_run(run_id) -> dict                # listing row; ConfigError if unknown
    store.list_runs(scan_id=None, limit=None) -> list[dict]   # newest first
    store.find_resumable(target, probeset_hash) -> dict | None
    store.close()                                # also a context manager

Run ids may be given as a unique prefix (at least 6 characters).

Tables: ``scans`` (id, source, settings, started/finished, summary), ``runs``
(id, scan_id, entrant, target identity and ``Target.public()`` JSON -- never a
key --, probe-set hash/name/version, status
running|complete|partial|interrupted|failed, times, creator/confidence/verdict,
attribution JSON, the report without its probe list, the probe order, and
``incomplete``: why a partial or interrupted run lacks probes) and ``probe_results`` (run_id, probe_id, the full
``ProbeResult`` JSON including raw text, ``UNIQUE(run_id, probe_id)``).
``PRAGMA user_version`` plus a ``schema_migrations`` table number the schema;
a database newer than this code is refused. WAL journal, synchronous=NORMAL
(each commit survives a killed process; a power cut may lose the last few
commits but never corrupts the file), each probe result committed on its own
so a killed scan loses nothing it had received. Any SQLite failure becomes a
one-line StoreError (exit code 2).

Texts are capped again here (transport caps them already) and the value of
the target's API key, if one is set, is scrubbed from anything written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import ConfigError, StoreError
from ..transcript import MAX_CHUNKS, MAX_ERROR_CHARS, MAX_TEXT_CHARS, ProbeResult, Transcript, new_run_id, now_iso

DB_FILENAME = "runs.sqlite3"
ENV_DB = "PROVENANCE_DB"
ENV_TIMEOUT = "PROVENANCE_DB_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
MAX_RESULT_JSON = 1_000_000       # bytes of one stored probe result, after capping its parts
MAX_CHUNK_CHARS = 2_000
MAX_REQUEST_JSON = 200_000
# running: in progress (or its process was killed); complete: every probe it meant to send was
# answered or failed; partial: finished with a report, but the deadline cut probes; interrupted:
# stopped by the user (Ctrl-C) before its report; failed: no probe succeeded, or the pipeline broke
# (``error``). Partial, interrupted, running and broken runs are continued by a resume.
STATUSES = ("running", "complete", "partial", "interrupted", "failed")
RESUMABLE = ("running", "partial", "interrupted")
MIN_PREFIX = 6
NOT_SENT_INTERRUPTED = "not sent: the run was interrupted"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: initial schema
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)""",
        """CREATE TABLE scans (
               id TEXT PRIMARY KEY,
               source TEXT,
               settings_json TEXT NOT NULL DEFAULT '{}',
               started_at TEXT NOT NULL,
               finished_at TEXT,
               summary_json TEXT)""",
        """CREATE TABLE runs (
               id TEXT PRIMARY KEY,
               scan_id TEXT REFERENCES scans(id),
               entrant TEXT,
               target_key TEXT NOT NULL,
               target_json TEXT NOT NULL,
               probeset_hash TEXT NOT NULL,
               probeset_name TEXT,
               probeset_version TEXT,
               status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
               started_at TEXT NOT NULL,
               finished_at TEXT,
               creator TEXT,
               confidence REAL,
               verdict TEXT,
               attribution_json TEXT,
               report_json TEXT,
               probe_order_json TEXT,
               error TEXT)""",
        "CREATE INDEX runs_by_target ON runs(target_key, probeset_hash)",
        "CREATE INDEX runs_by_scan ON runs(scan_id)",
        """CREATE TABLE probe_results (
               seq INTEGER PRIMARY KEY AUTOINCREMENT,
               run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
               probe_id TEXT NOT NULL,
               family TEXT NOT NULL,
               status TEXT NOT NULL,
               result_json TEXT NOT NULL,
               recorded_at TEXT NOT NULL,
               UNIQUE (run_id, probe_id))""",
    ),
    (  # 2: statuses partial and interrupted, and why such a run lacks probes (``incomplete``);
       # SQLite cannot alter a CHECK constraint, so the table is rebuilt (foreign keys are off
       # during migrations: dropping the old table must not cascade to the probe results)
        """CREATE TABLE runs_v2 (
               id TEXT PRIMARY KEY,
               scan_id TEXT REFERENCES scans(id),
               entrant TEXT,
               target_key TEXT NOT NULL,
               target_json TEXT NOT NULL,
               probeset_hash TEXT NOT NULL,
               probeset_name TEXT,
               probeset_version TEXT,
               status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'partial', 'interrupted', 'failed')),
               started_at TEXT NOT NULL,
               finished_at TEXT,
               creator TEXT,
               confidence REAL,
               verdict TEXT,
               attribution_json TEXT,
               report_json TEXT,
               probe_order_json TEXT,
               error TEXT,
               incomplete TEXT)""",
        """INSERT INTO runs_v2(id, scan_id, entrant, target_key, target_json, probeset_hash, probeset_name,
               probeset_version, status, started_at, finished_at, creator, confidence, verdict, attribution_json,
               report_json, probe_order_json, error)
           SELECT id, scan_id, entrant, target_key, target_json, probeset_hash, probeset_name, probeset_version,
               status, started_at, finished_at, creator, confidence, verdict, attribution_json, report_json,
               probe_order_json, error FROM runs ORDER BY rowid""",
        "DROP TABLE runs",
        "ALTER TABLE runs_v2 RENAME TO runs",
        "CREATE INDEX runs_by_target ON runs(target_key, probeset_hash)",
        "CREATE INDEX runs_by_scan ON runs(scan_id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def default_db_path() -> Path:
    """``$PROVENANCE_DB``, else the platform's per-user data directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".local" / "share"
    return base / "provenance" / DB_FILENAME


def _timeout_from_env() -> float:
    raw = os.environ.get(ENV_TIMEOUT)
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        v = float(raw)
    except ValueError:
        raise ConfigError(f"${ENV_TIMEOUT} must be a number of seconds, not {raw[:40]!r}") from None
    if not 0 <= v <= 3600:
        raise ConfigError(f"${ENV_TIMEOUT} must be between 0 and 3600 seconds")
    return v


def target_key(target: Any) -> str:
    """Identity of a target for resume: public URL, protocol, model and entrant name."""
    pub = target.public() if hasattr(target, "public") else dict(target or {})
    doc = {k: pub.get(k) for k in ("base_url", "protocol", "model", "name")}
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _probeset_info(probeset: Any) -> dict[str, str]:
    if hasattr(probeset, "info"):
        return dict(probeset.info())
    d = dict(probeset or {})
    if not d.get("hash"):
        raise ConfigError("a run needs the probe-set hash")
    return d


def _cap_str(s: Any, limit: int) -> Any:
    if isinstance(s, str) and len(s) > limit:
        return s[:limit]
    return s


def capped_result(result: ProbeResult | Mapping[str, Any]) -> dict[str, Any]:
    """A probe result as a JSON-ready dict with every untrusted part size-capped."""
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    truncated = bool(d.get("truncated"))
    text = d.get("text")
    if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
        d["text"], truncated = text[:MAX_TEXT_CHARS], True
    chunks = d.get("chunks")
    if isinstance(chunks, list):
        if len(chunks) > MAX_CHUNKS:
            chunks, truncated = chunks[:MAX_CHUNKS], True
        d["chunks"] = [_cap_str(c, MAX_CHUNK_CHARS) for c in chunks]
    d["error"] = _cap_str(d.get("error"), MAX_ERROR_CHARS)
    eb = d.get("error_body")
    if eb is not None and not isinstance(eb, str):
        try:
            if len(json.dumps(eb, ensure_ascii=False, default=str)) > MAX_ERROR_CHARS:
                d["error_body"] = json.dumps(eb, ensure_ascii=False, default=str)[:MAX_ERROR_CHARS]
        except (TypeError, ValueError, RecursionError):
            d["error_body"] = None
    else:
        d["error_body"] = _cap_str(eb, MAX_ERROR_CHARS)
    req = d.get("request")
    try:
        if len(json.dumps(req, ensure_ascii=False, default=str)) > MAX_REQUEST_JSON:
            d["request"] = {"omitted": "request larger than the store keeps"}
    except (TypeError, ValueError, RecursionError):
        d["request"] = {}
    headers = d.get("headers")
    if isinstance(headers, dict):
        d["headers"] = {str(k)[:100]: _cap_str(str(v), 512) for k, v in list(headers.items())[:64]}
    d["truncated"] = truncated
    return d


class RunStore:
    """One open SQLite run store. Safe to share between asyncio tasks of one thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, timeout: float) -> None:
        self._conn = conn
        self.path = path
        self.timeout = timeout
        self._lock = threading.RLock()
        self._secrets: dict[str, list[str]] = {}     # run_id -> values never to write

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: Path | str | None = None, timeout: float | None = None) -> "RunStore":
        explicit = path is not None
        p = Path(path).expanduser() if explicit else default_db_path()
        t = _timeout_from_env() if timeout is None else float(timeout)
        if p.is_dir():
            raise StoreError(f"run store {p} is a directory, not a database file")
        if not p.parent.is_dir():
            if explicit and os.environ.get(ENV_DB) != str(path):
                raise StoreError(f"run store directory {p.parent} does not exist")
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create run store directory {p.parent} ({e.strerror or e})") from None
        created = not p.exists()
        try:
            conn = sqlite3.connect(str(p), timeout=t, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open run store {p} ({e})") from None
        store = cls(conn, p, t)
        try:
            with store._guard("open"):
                conn.execute(f"PRAGMA busy_timeout = {int(t * 1000)}")
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                if not mode or str(mode[0]).lower() != "wal":
                    raise StoreError(f"run store {p}: cannot switch to WAL mode (got {mode and mode[0]})")
                conn.execute("PRAGMA synchronous = NORMAL")   # WAL: every commit survives a killed process
                conn.execute("PRAGMA foreign_keys = ON")
                store._migrate()
            if created and os.name == "posix":
                try:
                    os.chmod(p, 0o600)
                except OSError:
                    pass
        except BaseException:
            conn.close()
            raise
        return store

    def _migrate(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"run store {self.path} was written by a newer provenance (schema {version}, "
                             f"this version knows {SCHEMA_VERSION}); upgrade provenance or use --db")
        if version == SCHEMA_VERSION:
            return
        conn.execute("PRAGMA foreign_keys = OFF")      # (a no-op inside a transaction: set before it)
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]   # another process may have won
            for n in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[n - 1]:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)", (n, now_iso()))
                conn.execute(f"PRAGMA user_version = {n}")
            bad = conn.execute("PRAGMA foreign_key_check").fetchall()
            if bad:
                raise StoreError(f"run store {self.path}: migration left {len(bad)} dangling references; "
                                 "nothing was changed")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("PRAGMA foreign_keys = ON")

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn any SQLite failure into one clear StoreError line."""
        try:
            with self._lock:
                yield
        except sqlite3.Error as e:
            msg = str(e) or type(e).__name__
            low = msg.lower()
            if "locked" in low or "busy" in low:
                raise StoreError(f"run store {self.path} is locked by another process (waited {self.timeout:g} s "
                                 f"during {action}); try again later or use --db") from None
            if "not a database" in low or "malformed" in low or "corrupt" in low:
                raise StoreError(f"run store {self.path} is corrupted ({msg}); move it aside or use --db") from None
            if "readonly" in low or "read-only" in low:
                raise StoreError(f"run store {self.path} is read-only ({msg})") from None
            raise StoreError(f"run store {self.path}: {action} failed ({msg})") from None

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_check(self) -> str:
        with self._guard("integrity check"):
            return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    # ------------------------------------------------------------ secrets
    def _scrub(self, run_id: str | None, text: str) -> str:
        for s in self._secrets.get(run_id or "", []):
            text = text.replace(s, "[redacted]")
            esc = json.dumps(s)[1:-1]
            if esc != s:
                text = text.replace(esc, "[redacted]")
        return text

    def _dumps(self, run_id: str | None, doc: Any) -> str:
        return self._scrub(run_id, json.dumps(doc, ensure_ascii=False, default=str, separators=(",", ":")))

    # ------------------------------------------------------------ scans
    def start_scan(self, source: str | None, settings: Mapping[str, Any] | None = None,
                   scan_id: str | None = None) -> str:
        sid = scan_id or new_run_id()
        with self._guard("start scan"):
            self._conn.execute("INSERT INTO scans(id, source, settings_json, started_at) VALUES (?, ?, ?, ?)",
                               (sid, source, json.dumps(dict(settings or {}), default=str), now_iso()))
        return sid

    def finish_scan(self, scan_id: str, summary: Mapping[str, Any] | None = None) -> None:
        with self._guard("finish scan"):
            self._conn.execute("UPDATE scans SET finished_at = ?, summary_json = ? WHERE id = ?",
                               (now_iso(), json.dumps(dict(summary or {}), default=str), scan_id))

    # ------------------------------------------------------------ runs
    def start_run(self, target: Any, probeset: Any, *, scan_id: str | None = None,
                  entrant: str | None = None, run_id: str | None = None) -> str:
        """Record a new run (status running). ``target``: a Target or its public() dict."""
        rid = run_id or new_run_id()
        self.register_secrets(rid, target)
        pub = target.public() if hasattr(target, "public") else dict(target or {})
        info = _probeset_info(probeset)
        with self._guard("start run"):
            self._conn.execute(
                "INSERT INTO runs(id, scan_id, entrant, target_key, target_json, probeset_hash, probeset_name, "
                "probeset_version, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                (rid, scan_id, entrant if entrant is not None else pub.get("name"), target_key(pub),
                 self._dumps(rid, pub), info.get("hash"), info.get("name"), info.get("version"), now_iso()))
        return rid

    def register_secrets(self, run_id: str, target: Any) -> None:
        """Remember the target's key value (in memory only) so it is never written for this run."""
        key = target.api_key() if hasattr(target, "api_key") else None
        vals = [key] if key and len(key) >= 6 else []
        for k, v in (getattr(target, "headers", None) or {}).items():
            if isinstance(v, str) and len(v) >= 12 and any(w in k.lower() for w in ("auth", "key", "token", "secret")):
                vals.append(v)
        if vals:
            self._secrets[run_id] = vals

    def record_result(self, run_id: str, result: ProbeResult | Mapping[str, Any]) -> None:
        """Store one probe result (replacing an earlier one for the same probe), committed at once."""
        d = capped_result(result)
        blob = self._dumps(run_id, d)
        if len(blob.encode("utf-8")) > MAX_RESULT_JSON:
            d["text"] = (d.get("text") or "")[: MAX_TEXT_CHARS // 4]
            d["chunks"] = None
            d["truncated"] = True
            blob = self._dumps(run_id, d)[:MAX_RESULT_JSON]
            try:
                json.loads(blob)
            except ValueError:
                d["text"], d["error_body"] = None, None
                blob = self._dumps(run_id, d)
        with self._guard("record probe result"):
            self._conn.execute(
                "INSERT INTO probe_results(run_id, probe_id, family, status, result_json, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, probe_id) DO UPDATE SET "
                "family = excluded.family, status = excluded.status, result_json = excluded.result_json, "
                "recorded_at = excluded.recorded_at",
                (run_id, str(d.get("probe_id")), str(d.get("family")), str(d.get("status")), blob, now_iso()))

    def finish_run(self, run_id: str, report: Mapping[str, Any]) -> None:
        """Store the final report; probes it holds that were not recorded yet are recorded now."""
        attr = dict(report.get("attribution") or {})
        probes = list(report.get("probes") or [])
        skeleton = {k: v for k, v in report.items() if k != "probes"}
        order = [str(p.get("probe_id")) for p in probes if isinstance(p, Mapping)]
        incomplete = incomplete_line(report)
        status = "failed" if attr.get("status") == "failed" else "partial" if incomplete else "complete"
        with self._guard("finish run"):
            stored = {r[0]: r[1] for r in self._conn.execute(
                "SELECT probe_id, result_json FROM probe_results WHERE run_id = ?", (run_id,))}
        for p in probes:
            if not isinstance(p, Mapping):
                continue
            if stored.get(str(p.get("probe_id"))) != self._dumps(run_id, capped_result(p)):
                self.record_result(run_id, p)
        conf = attr.get("confidence")
        with self._guard("finish run"):
            cur = self._conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, creator = ?, confidence = ?, verdict = ?, "
                "attribution_json = ?, report_json = ?, probe_order_json = ?, error = NULL, incomplete = ? "
                "WHERE id = ?",
                (status, now_iso(), _cap_str(attr.get("creator"), 200),
                 float(conf) if isinstance(conf, (int, float)) else None, _cap_str(attr.get("status"), 40),
                 self._dumps(run_id, attr), self._dumps(run_id, skeleton), json.dumps(order),
                 incomplete if status == "partial" else None, run_id))
            if cur.rowcount == 0:
                raise ConfigError(f"no run with id {run_id!r} in {self.path}")

    def fail_run(self, run_id: str, error: str) -> None:
        """Mark a run failed because the pipeline itself broke (not because probes failed)."""
        from ..text_safety import safe_line
        with self._guard("fail run"):
            self._conn.execute("UPDATE runs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?",
                               (now_iso(), self._scrub(run_id, safe_line(error, 500)), run_id))

    def interrupt_run(self, run_id: str, why: str) -> None:
        """Mark a run interrupted (the user stopped it before its report); a resume continues it."""
        from ..text_safety import safe_line
        with self._guard("mark run interrupted"):
            self._conn.execute("UPDATE runs SET status = 'interrupted', finished_at = ?, incomplete = ? "
                               "WHERE id = ? AND status = 'running'",
                               (now_iso(), self._scrub(run_id, safe_line(why, 300)), run_id))

    def reopen_run(self, run_id: str) -> None:
        """A run being resumed: running again, its earlier report and error cleared."""
        with self._guard("reopen run"):
            self._conn.execute("UPDATE runs SET status = 'running', finished_at = NULL, error = NULL, "
                               "incomplete = NULL WHERE id = ?", (run_id,))

    # ------------------------------------------------------------ reading
    def resolve_id(self, run_id: str) -> str:
        """Exact run id, or a unique prefix of one (ConfigError otherwise)."""
        rid = str(run_id or "").strip()
        if not rid:
            raise ConfigError("empty run id")
        with self._guard("look up run"):
            if self._conn.execute("SELECT 1 FROM runs WHERE id = ?", (rid,)).fetchone():
                return rid
            rows = []
            if len(rid) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in rid.lower()):
                rows = self._conn.execute("SELECT id FROM runs WHERE id LIKE ? LIMIT 2",
                                          (rid.lower() + "%",)).fetchall()
        if len(rows) == 1:
            return rows[0][0]
        if len(rows) > 1:
            raise ConfigError(f"run id prefix {rid!r} is ambiguous; give more characters")
        from ..text_safety import safe_line
        raise ConfigError(f"no run with id {safe_line(rid, 80)!r} in {self.path} (see `provenance runs list`)")

    def _row(self, run_id: str) -> sqlite3.Row:
        rid = self.resolve_id(run_id)
        with self._guard("read run"):
            cur = self._conn.execute("SELECT * FROM runs WHERE id = ?", (rid,))
            cols = [c[0] for c in cur.description]
            row = cur.fetchone()
        return dict(zip(cols, row))  # type: ignore[return-value]

    def _listing(self, row: Mapping[str, Any], counts: Mapping[str, int] | None = None) -> dict[str, Any]:
        out = {
            "id": row["id"], "scan_id": row["scan_id"], "entrant": row["entrant"],
            "target": _loads(row["target_json"], {}),
            "probeset": {"hash": row["probeset_hash"], "name": row["probeset_name"],
                         "version": row["probeset_version"]},
            "status": row["status"], "started_at": row["started_at"], "finished_at": row["finished_at"],
            "creator": row["creator"], "confidence": row["confidence"], "verdict": row["verdict"],
            "error": row["error"], "incomplete": row.get("incomplete"),
        }
        attr = _loads(row.get("attribution_json"), None) if isinstance(row, dict) else None
        if isinstance(attr, dict):
            out["tokenizer"] = tokenizer_family(attr)
            out["stack"] = serving_stack(attr)
        skel = _loads(row.get("report_json"), None) if isinstance(row, dict) else None
        claim = skel.get("claim") if isinstance(skel, dict) else None
        out["claim"] = ({k: claim.get(k) for k in ("creator", "family", "verdict")}
                        if isinstance(claim, dict) else None)
        if counts is not None:
            out["probes"] = dict(counts)
        return out

    def _counts(self, run_ids: list[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {r: {"total": 0, "ok": 0, "failed": 0, "skipped": 0} for r in run_ids}
        if not run_ids:
            return out
        with self._guard("count probe results"):
            for i in range(0, len(run_ids), 500):
                part = run_ids[i:i + 500]
                q = ("SELECT run_id, status, COUNT(*) FROM probe_results WHERE run_id IN (%s) "
                     "GROUP BY run_id, status" % ",".join("?" * len(part)))
                for rid, st, n in self._conn.execute(q, part):
                    c = out[rid]
                    c["total"] += n
                    if st in c:
                        c[st] += n
        return out

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self._row(run_id)
        return self._listing(row, self._counts([row["id"]])[row["id"]])

    def list_runs(self, scan_id: str | None = None, limit: int | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM runs"
        cond, args = [], []
        if scan_id:
            cond.append("scan_id = ?")
            args.append(scan_id)
        if status:
            cond.append("status = ?")
            args.append(status)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY rowid DESC"
        if limit:
            q += f" LIMIT {int(limit)}"
        with self._guard("list runs"):
            cur = self._conn.execute(q, args)
            cols = [c[0] for c in cur.description]
            rows = [dict(zip(cols, r)) for r in cur.fetchall()]
        counts = self._counts([r["id"] for r in rows])
        return [self._listing(r, counts[r["id"]]) for r in rows]

    def find_resumable(self, target: Any, probeset_hash: str) -> dict[str, Any] | None:
        """The latest run of this target with this probe set, if it is complete or can be continued.

        Continued: unfinished (status running: its process was killed), interrupted
        (Ctrl-C), partial (the deadline cut probes) or broken by an internal error
        (status failed with an ``error``); their stored results are reused. A
        latest run that found the endpoint unusable (or none at all) gives None:
        probe afresh.
        """
        with self._guard("find resumable run"):
            row = self._conn.execute(
                "SELECT id, status, error FROM runs WHERE target_key = ? AND probeset_hash = ? "
                "ORDER BY rowid DESC LIMIT 1", (target_key(target), probeset_hash)).fetchone()
        if row is None or (row[1] == "failed" and not row[2]):
            return None
        if row[1] != "complete" and hasattr(target, "api_key"):
            self.register_secrets(row[0], target)
        return self.get_run(row[0])

    def load_results(self, run_id: str) -> list[ProbeResult]:
        rid = self.resolve_id(run_id)
        with self._guard("read probe results"):
            rows = self._conn.execute("SELECT result_json FROM probe_results WHERE run_id = ? ORDER BY seq",
                                      (rid,)).fetchall()
        out = []
        for (blob,) in rows:
            d = _loads(blob, None)
            if isinstance(d, dict):
                try:
                    out.append(ProbeResult.from_dict(d))
                except (TypeError, ValueError):
                    continue
        return out

    def load_transcript(self, run_id: str, probeset: Any = None) -> Transcript:
        """The run's transcript. With ``probeset`` (the set it was probed with), an unfinished run
        (interrupted, or its process stopped) also lists the probes it never sent, as skipped
        (``not sent: the run was interrupted``), so its counts are of the whole set."""
        row = self._row(run_id)
        results = self.load_results(row["id"])
        order = _loads(row.get("probe_order_json"), None)
        if isinstance(order, list):
            pos = {pid: i for i, pid in enumerate(order)}
            results.sort(key=lambda r: pos.get(r.probe_id, len(pos)))
        skel = _loads(row.get("report_json"), {}) or {}
        run = skel.get("run") or {}
        stopped = run.get("stopped_because")
        target = _loads(row["target_json"], {}) or {}
        if (probeset is not None and row["status"] in ("running", "interrupted") and not skel
                and getattr(probeset, "hash", None) == row["probeset_hash"] and target.get("protocol") != "manual"):
            have = {r.probe_id for r in results}
            unsent = [ProbeResult(probe_id=p.id, family=p.family, status="skipped", error=NOT_SENT_INTERRUPTED,
                                  stream=bool(getattr(p, "stream", False)))
                      for p in probeset.probes if p.id not in have]
            if unsent:
                answered = sum(1 for r in results if r.ok)
                results = results + unsent
                stopped = (f"{row['status']}: {answered} of {len(results)} probes answered "
                           f"(`provenance probe --resume {row['id']}` sends the rest)")
        return Transcript(
            target=target,
            probeset={"name": row["probeset_name"], "version": row["probeset_version"],
                      "hash": row["probeset_hash"]},
            results=results,
            started_at=run.get("started_at") or row["started_at"],
            finished_at=run.get("finished_at") or row["finished_at"],
            stopped_because=stopped,
        )

    def load_report(self, run_id: str) -> dict[str, Any]:
        """The run's JSON report, rebuilt from its stored parts (ConfigError if it has none)."""
        row = self._row(run_id)
        skel = _loads(row.get("report_json"), None)
        if not isinstance(skel, dict):
            why = {"running": "it is unfinished (its process was stopped?); run it again to resume it",
                   "interrupted": f"it was {row.get('incomplete') or 'interrupted'}",
                   "failed": f"it failed: {row.get('error') or 'no reason recorded'}"}.get(row["status"], row["status"])
            raise ConfigError(f"run {row['id']} has no report: {why}. `provenance classify --run {row['id']}` "
                              "classifies what it recorded")
        by_id = {r.probe_id: r for r in self.load_results(row["id"])}
        order = _loads(row.get("probe_order_json"), None) or list(by_id)
        probes = [by_id[pid].to_dict() for pid in order if pid in by_id]
        doc = dict(skel)
        doc["probes"] = probes
        return doc


def _loads(blob: Any, default: Any) -> Any:
    if blob is None:
        return default
    try:
        return json.loads(blob)
    except (TypeError, ValueError, RecursionError):
        return default


def incomplete_line(report: Mapping[str, Any]) -> str | None:
    """'deadline: answered 21 of 212' for a report whose probes the deadline cut, else None."""
    inc = (report.get("run") or {}).get("incomplete") if isinstance(report.get("run"), Mapping) else None
    if not isinstance(inc, Mapping):
        return None
    return f"{inc.get('why', 'cut')}: answered {inc.get('answered', '?')} of {inc.get('of', '?')}"


# A stored attribution's summaries, as the listing (and a scan's table) shows them. The store
# reads its attribution's fields as it records them (creator, confidence, verdict), these too.
def _summary_of(channel: Any) -> Mapping[str, Any]:
    """A transcript channel's summary in an attribution: ``{available, summary: {...}, reason}``
    as the classifier stores it (an older, flat dict is read as its own summary)."""
    if not isinstance(channel, Mapping):
        return {}
    inner = channel.get("summary")
    return inner if isinstance(inner, Mapping) else channel


def tokenizer_family(attribution: Mapping[str, Any] | None) -> str | None:
    """The tokenizer family an attribution matched (``qwen2``), or None."""
    fam = _summary_of((attribution or {}).get("tokenizer")).get("family")
    return str(fam) if fam else None


def serving_stack(attribution: Mapping[str, Any] | None) -> str | None:
    """The serving stack an attribution recognised (``llama.cpp``), or None (also when unrecognised)."""
    st = _summary_of((attribution or {}).get("stack")).get("stack")
    return str(st) if st and st != "unrecognised" else None
