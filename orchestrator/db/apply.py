"""Writing a batch to the target database, exactly once.

Each batch is one target transaction: per table, deletes through a staged key list
and one DELETE ... USING; upserts through COPY into a temp staging table and one
INSERT ... ON CONFLICT; rows the target cannot hold yet (forward replay's first
inserts) by COPY straight into the table; rows a SQL f computes, by COPY of the
source rows into a stage typed like the source table and one INSERT ... SELECT f
... ON CONFLICT (a plain INSERT for rows the target cannot hold yet); and the
source log position the batch reaches is written in the same transaction. A crash
either keeps all of it or none, and the stream restarts from the stored position.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg2
import psycopg2.errors

from orchestrator.db.catalog import TableInfo, quote_ident, quote_table, sql_alias, table_info
from orchestrator.db.connect import connect, first_line
from orchestrator.db.mapping import Writes
from orchestrator.db.transform import Row, Transform
from orchestrator.db.values import copy_line
from orchestrator.errors import ReplayError, ReplayRefused

SCHEMA = "greenswap"
POSITION_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.replay_position (
    stream      text PRIMARY KEY,
    lsn         pg_lsn NOT NULL,
    source_ts   timestamptz,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
-- What a stream's first copy saw on the source, and the target transaction that
-- wrote it: verify tells a row no change has touched since from one replay wrote.
CREATE TABLE IF NOT EXISTS {SCHEMA}.replay_copy (
    stream    text PRIMARY KEY,
    snapshot  text NOT NULL,
    xid       xid8 NOT NULL
);
"""
LOCK_WAIT_MS = 5000


@dataclass
class Encoded:
    """One table's writes in COPY's text format, grouped by column list. Encoding is
    Python work, done by the decoding thread; the writing thread only sends it."""

    deletes: str  # key lines
    inserts: dict[tuple[str, ...], str]  # rows the target cannot hold yet
    upserts: dict[tuple[str, ...], str]
    computed: str = ""  # source rows, every column in order, for a SQL f
    computed_fresh: str = ""  # the same, for rows the target cannot hold yet


def encode(writes: dict[str, Writes]) -> dict[str, Encoded]:
    # A SQL f's green tables all get the same source rows (one dict): they are
    # encoded once, into one text that `write` stages once.
    source_text: dict[int, str] = {}

    def computed(rows: dict[tuple, tuple]) -> str:
        text = source_text.get(id(rows))
        if text is None:
            text = source_text[id(rows)] = "".join(map(copy_line, rows.values()))
        return text

    return {
        table: Encoded("".join(copy_line(k) for k in w.deletes),
                       _lines(w.inserts.values()), _lines(w.upserts.values()),
                       computed(w.computed), computed(w.computed_fresh))
        for table, w in writes.items()
        if w.deletes or w.inserts or w.upserts or w.computed or w.computed_fresh
    }


@dataclass(frozen=True)
class Computed:
    """A target table that a SQL f fills: its server computes the rows from the
    source rows, staged in a temp table with the source table's columns and types."""

    source: str  # the source table, whose bare name the expressions may qualify with
    source_columns: tuple[tuple[str, str], ...]  # (name, type as format_type spells it)
    columns: tuple[str, ...]  # target columns, the key first
    exprs: tuple[str, ...]


def computed_targets(transform: Transform, sources: dict[str, TableInfo],
                     targets: dict[str, TableInfo]) -> dict[str, Computed]:
    """The target tables of the transform's SQL tables (forward replay)."""
    found = {}
    for tt in transform.tables.values():
        if tt.sql is None:
            continue
        info = sources[tt.source]
        for target in tt.targets:
            green = targets[target]
            types = green.builtin_types()
            columns, exprs = tt.sql_select(target, types, {
                c: t for c, t in zip(green.columns, green.type_names, strict=True)
                if c not in types})
            found[target] = Computed(tt.source, tuple(zip(info.columns, info.type_names,
                                                          strict=True)), columns, exprs)
    return found


def _lines(rows: Iterable[Row]) -> dict[tuple[str, ...], str]:
    groups: dict[tuple[str, ...], list[str]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(copy_line(list(row.values())))
    return {cols: "".join(lines) for cols, lines in groups.items()}


class TargetDB:
    """The database a replay writes to: green going forward, blue in reverse."""

    def __init__(self, dsn: str, stream: str, tables: list[str], keys: dict[str, tuple]) -> None:
        self.stream = stream
        self.computed: dict[str, Computed] = {}
        self.conn = connect(dsn, f"apply/{stream}")
        self.order = tables  # upserts in this order, deletes in reverse (foreign keys)
        self.keys = keys
        with self.conn.cursor() as cur:
            # One replayer per stream and target: a second would drop the first's slot.
            # Waited for a little: a replayer that has just exited (a swap taking its
            # stream over) lets go only when the server has ended its session.
            cur.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
            try:
                cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"greenswap:{stream}",))
            except psycopg2.errors.LockNotAvailable:
                self.conn.close()
                raise ReplayRefused(
                    f"another replayer is running stream {stream} on this target",
                    "stop it first, or use another --stream name",
                ) from None
            # The position is confirmed to the source once this commit returns: it
            # must be on disk by then, whatever the server's own default. With
            # synchronous_commit off, a crash of the target lost commits the source
            # had already let go of (tests/faults/test_target_crash.py, 3 runs in 4).
            # Every other level flushes locally before it returns.
            cur.execute("SELECT current_setting('synchronous_commit')")
            if cur.fetchone()[0] == "off":
                cur.execute("SET synchronous_commit = local")
            cur.execute(POSITION_DDL)
            self.infos = {t: self._info(cur, t) for t in tables}
            self._replica_role(cur)
        self.conn.commit()
        self._staged: set[str] = set()

    def compute(self, computed: dict[str, Computed]) -> None:
        """Let these tables' rows be computed by a SQL f (forward replay), each tried
        once now."""
        self.computed = computed
        for table in computed:
            self._try_computed(table)

    def _info(self, cur, table: str) -> TableInfo:
        info = table_info(cur, table)
        if info is None:
            raise ReplayRefused(f"target table {table} does not exist; run the migrations first")
        if set(info.primary_key) != set(self.keys[table]):
            raise ReplayRefused(
                f"target table {table} has primary key {list(info.primary_key)}, but the "
                f"transform keys it by {list(self.keys[table])}"
            )
        return info

    def _try_computed(self, table: str) -> None:
        """Refuse a SQL f that cannot run here now, not at the first change: its
        stage's types, its expressions and their fit to the target's columns are
        all checked by its statement, run on the empty stage and rolled back."""
        c = self.computed[table]
        try:
            with self.conn.cursor() as cur:
                cur.execute(self._computed_insert(table, self._stage_source(cur, c.source)))
        except psycopg2.Error as exc:
            self.conn.close()
            raise ReplayRefused(
                f"SQL f of {c.source} for {table} cannot run on the target: "
                f"{first_line(exc)}",
                "fix the expression (it reads the source row's columns by name), or "
                "create the types it needs on the target",
            ) from None
        finally:
            if not self.conn.closed:
                self.conn.rollback()
            self._staged.clear()

    def _replica_role(self, cur) -> None:
        # As native apply workers do: no user triggers, no FK checks on replayed rows
        # (the engine already writes whole entities). Needs superuser or SET on the
        # parameter (postgres.yml grants it to greenswap's role); without either,
        # writes follow the transform's table order instead.
        try:
            cur.execute("SAVEPOINT role")
            cur.execute("SET session_replication_role = replica")
            cur.execute("RELEASE SAVEPOINT role")
        except psycopg2.errors.InsufficientPrivilege:
            cur.execute("ROLLBACK TO SAVEPOINT role")

    # -- position ------------------------------------------------------------------

    def position(self) -> str | None:
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT lsn::text FROM {SCHEMA}.replay_position WHERE stream = %s",
                        (self.stream,))
            row = cur.fetchone()
        self.conn.commit()
        return row[0] if row else None

    def _set_position(self, cur, lsn: str, source_ts: str | None) -> None:
        cur.execute(
            f"INSERT INTO {SCHEMA}.replay_position (stream, lsn, source_ts) VALUES (%s, %s, %s)"
            " ON CONFLICT (stream) DO UPDATE SET lsn = EXCLUDED.lsn,"
            " source_ts = EXCLUDED.source_ts, applied_at = now()",
            (self.stream, lsn, source_ts),
        )

    def _set_copy(self, cur, snapshot: str) -> None:
        """In the copy's own transaction: the source snapshot it copied."""
        cur.execute(
            f"INSERT INTO {SCHEMA}.replay_copy (stream, snapshot, xid) VALUES"
            " (%s, %s, pg_current_xact_id()) ON CONFLICT (stream) DO UPDATE SET"
            " snapshot = EXCLUDED.snapshot, xid = EXCLUDED.xid", (self.stream, snapshot))

    def forget_position(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"DELETE FROM {SCHEMA}.replay_position WHERE stream = %s", (self.stream,))
            cur.execute(f"DELETE FROM {SCHEMA}.replay_copy WHERE stream = %s", (self.stream,))
        self.conn.commit()

    # -- writing --------------------------------------------------------------------

    def apply(self, segments: list, lsn: str, source_ts: str | None = None) -> None:
        """segments: [("writes", {table: Encoded}) | ("truncate", [tables])], in order."""
        try:
            self._apply(segments, lsn, source_ts, trust_fresh=True)
        except psycopg2.errors.UniqueViolation:
            if not any(kind == "writes" and any(e.inserts or e.computed_fresh
                                                 for e in payload.values())
                       for kind, payload in segments):
                raise
            # A row the log said was new is already here: only a target written to by
            # someone else can do that. Upserting it is still exact, so do the batch
            # again that way rather than stop the stream.
            self._apply(segments, lsn, source_ts, trust_fresh=False)

    def _apply(self, segments: list, lsn: str, source_ts: str | None, trust_fresh: bool) -> None:
        try:
            with self.conn.cursor() as cur:
                for kind, payload in segments:
                    if kind == "truncate":
                        self.truncate(cur, payload)
                    else:
                        self.write(cur, payload, trust_fresh)
                self._set_position(cur, lsn, source_ts)
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            self._staged.clear()  # temp tables made in the rolled-back transaction are gone
            raise

    def write(self, cur, writes: dict[str, Encoded], trust_fresh: bool = True) -> None:
        staged: dict[str, str] = {}  # a SQL f's stage -> the rows it holds
        for table in reversed(self.order):
            if table in writes and writes[table].deletes:
                self._delete(cur, table, writes[table].deletes)
        for table in self.order:
            encoded = writes.get(table)
            if encoded is None:
                continue
            # Upserts first: one may free a unique value (an email changed) that a new
            # row of the same batch takes.
            for cols, text in encoded.upserts.items():
                self._upsert(cur, table, cols, text)
            if encoded.computed:
                self._compute(cur, table, encoded.computed, staged)
            if encoded.computed_fresh:
                self._compute(cur, table, encoded.computed_fresh, staged, fresh=True,
                              upsert=not trust_fresh)
            for cols, text in encoded.inserts.items():
                if trust_fresh:
                    self.copy_text(cur, table, cols, text)
                else:
                    self._upsert(cur, table, cols, text)
        for stage in staged:  # empty for the next segment of this transaction
            cur.execute(f"DELETE FROM {stage}")

    def truncate(self, cur, tables: list[str]) -> None:
        cur.execute("TRUNCATE " + ", ".join(quote_table(t) for t in tables))

    def copy_text(self, cur, table: str, cols: tuple[str, ...], text: str) -> None:
        """COPY lines already in COPY's text format into `table`."""
        self._copy(cur, quote_table(table), cols, text)

    def _copy(self, cur, target: str, cols: tuple[str, ...], text: str) -> None:
        collist = ", ".join(map(quote_ident, cols))
        # One read for the whole chunk: with psycopg2's default 8 KiB reads, every
        # read waits for the GIL, which the decoding thread holds.
        cur.copy_expert(f"COPY {target} ({collist}) FROM STDIN", io.StringIO(text),
                        size=len(text) + 1)

    def _stage(self, cur, table: str, kind: str) -> str:
        """An empty temp table to COPY a batch's rows or keys into. It empties itself
        at commit, and each use empties it again (in the statement that reads it):
        a server round trip less per use than a TRUNCATE, and no new file."""
        name = f"gs_{kind}_{abs(hash(table)) % 10**8}"
        if name not in self._staged:
            keycols = ", ".join(map(quote_ident, self.keys[table]))
            source = "*" if kind == "up" else keycols
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS "
                f"SELECT {source} FROM {quote_table(table)} WITH NO DATA"
            )
            self._staged.add(name)
        return name

    def _upsert(self, cur, table: str, cols: tuple[str, ...], text: str) -> None:
        stage = self._stage(cur, table, "up")
        self._copy(cur, stage, cols, text)
        collist = ", ".join(map(quote_ident, cols))
        cur.execute(
            f"INSERT INTO {quote_table(table)} ({collist}) OVERRIDING SYSTEM VALUE "
            f"SELECT {collist} FROM {stage} {self._on_conflict(table, cols)}; "
            f"DELETE FROM {stage}"
        )

    def _on_conflict(self, table: str, cols: tuple[str, ...]) -> str:
        """An upsert's last clause: a row whose key is there takes the new values."""
        keys = self.keys[table]
        updates = [c for c in cols if c not in keys]
        action = ("DO UPDATE SET " + ", ".join(
            f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in updates)
        ) if updates else "DO NOTHING"
        return f"ON CONFLICT ({', '.join(map(quote_ident, keys))}) {action}"

    def _stage_source(self, cur, source: str, fresh: bool = False) -> str:
        """The temp table a SQL f's source rows are copied into: typed like the
        source table, so the expressions see the values they see there. One per
        source table (and one for its fresh rows), for all the green tables its f
        writes. Numbered by the source's place among them: names that cannot collide."""
        sources = list(dict.fromkeys(c.source for c in self.computed.values()))
        name = f"gs_{'new' if fresh else 'src'}_{sources.index(source)}"
        if name not in self._staged:
            c = next(c for c in self.computed.values() if c.source == source)
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t in c.source_columns)
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols}) ON COMMIT DELETE ROWS")
            self._staged.add(name)
        return name

    def _computed_insert(self, table: str, stage: str, upsert: bool = True) -> str:
        c = self.computed[table]
        return (f"INSERT INTO {quote_table(table)} ({', '.join(map(quote_ident, c.columns))})"
                f" OVERRIDING SYSTEM VALUE SELECT {', '.join(c.exprs)} FROM {stage} AS"
                f" {sql_alias(c.source)}"
                + (f" {self._on_conflict(table, c.columns)}" if upsert else ""))

    def _compute(self, cur, table: str, text: str, staged: dict[str, str], fresh: bool = False,
                 upsert: bool = True) -> None:
        """`table`'s rows, computed from the source rows in `text`; `fresh`: rows the
        target cannot hold yet, in a stage of their own, and inserted without ON
        CONFLICT's speculative insertion unless `upsert` (the batch's second try).
        A stage is loaded once for all of a source table's green tables (they get
        the same rows, the same text), so only the first of them copies."""
        c = self.computed[table]
        stage = self._stage_source(cur, c.source, fresh)
        if staged.get(stage) is not text:  # the same text object: rows already staged
            if stage in staged:
                cur.execute(f"DELETE FROM {stage}")
            self._copy(cur, stage, tuple(n for n, _ in c.source_columns), text)
            staged[stage] = text
        try:
            cur.execute(self._computed_insert(table, stage, upsert))
        except (psycopg2.DataError, psycopg2.errors.NotNullViolation,
                psycopg2.errors.CheckViolation) as exc:
            # The expression failed on some row (a division by zero, a NULL into a NOT
            # NULL column): a fault of f, not of the connection or of the batch's order.
            raise ReplayError(
                f"SQL f of {c.source} for {table} failed on the target: "
                f"{first_line(exc)}; nothing of this batch was applied",
                "fix the expression for such rows (or use a Python f, whose rejected rows "
                "can be set aside), then run the replayer again",
            ) from exc

    def _delete(self, cur, table: str, text: str) -> None:
        stage = self._stage(cur, table, "del")
        keycols = self.keys[table]
        self._copy(cur, stage, keycols, text)
        match = " AND ".join(f"t.{quote_ident(c)} = d.{quote_ident(c)}" for c in keycols)
        # A batch deletes a sliver of a table: look each key up in the primary key.
        # Left to itself the planner hash-joins by scanning the whole table, every
        # batch, which grows with the table instead of with the batch.
        cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                    f"DELETE FROM {quote_table(table)} t USING {stage} d WHERE {match}; "
                    f"DELETE FROM {stage}")

    def close(self) -> None:
        self.conn.close()
