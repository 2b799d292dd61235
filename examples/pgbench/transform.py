"""pgbench's tables (blue) to a v2 schema in integer cents (green): a foreign schema
for greenswap's own tests and benchmarks, and a second worked example.

- balances: int -> bigint cents (x 100); g divides back, exactly;
- tables renamed (pgbench_accounts -> accounts, ...), and so the history key's
  sequence: declared below, so cutover and rollback carry it over;
- an account's notes move to account_notes (one row, or none when there is no note);
- history times: timestamp -> timestamptz, read as UTC.

Branches, tellers and history map column by column, so their f is SQL (replay runs
it inside PostgreSQL), with the Python f kept as the reference `transform check`
proves it equal to. Accounts keep a Python f: an account has a notes row only when
it has a note, which a column mapping cannot say.
"""

from orchestrator.db.transform import Transform

transform = Transform()
transform.sequence("history_hid_seq", blue="pgbench_history_hid_seq")


def cents(value):
    return None if value is None else value * 100


def units(value):
    if value is None:
        return None
    if value % 100:
        raise ValueError(f"{value} cents is not a whole unit; blue keeps whole units")
    return value // 100


branches = transform.sql(
    "pgbench_branches", key=["bid"], targets={"branches": {"bid": "bid"}},
    # bigint first: int * 100 would overflow where Python's ints do not.
    f={"branches": {"balance_cents": "bbalance::bigint * 100", "filler": "filler"}})


@branches.reference
def branches_f(row):
    return {"branches": {"bid": row["bid"], "balance_cents": cents(row["bbalance"]),
                         "filler": row["filler"]}}


@branches.inverse
def branches_back(rows):
    b = rows["branches"]
    return b and {"bid": b["bid"], "bbalance": units(b["balance_cents"]), "filler": b["filler"]}


tellers = transform.sql(
    "pgbench_tellers", key=["tid"], targets={"tellers": {"tid": "tid"}},
    f={"tellers": {"bid": "bid", "balance_cents": "tbalance::bigint * 100",
                   "filler": "filler"}})


@tellers.reference
def tellers_f(row):
    return {"tellers": {"tid": row["tid"], "bid": row["bid"],
                        "balance_cents": cents(row["tbalance"]), "filler": row["filler"]}}


@tellers.inverse
def tellers_back(rows):
    t = rows["tellers"]
    return t and {"tid": t["tid"], "bid": t["bid"], "tbalance": units(t["balance_cents"]),
                  "filler": t["filler"]}


@transform.table("pgbench_accounts", key=["aid"],
                 targets={"accounts": {"aid": "aid"}, "account_notes": {"aid": "aid"}})
def accounts(row):
    notes = row["notes"]
    return {
        "accounts": {"aid": row["aid"], "bid": row["bid"],
                     "balance_cents": cents(row["abalance"]), "filler": row["filler"]},
        "account_notes": None if notes is None else {"aid": row["aid"], "notes": notes},
    }


@accounts.inverse
def accounts_back(rows):
    a, n = rows["accounts"], rows["account_notes"]
    if a is None:
        return None
    return {"aid": a["aid"], "bid": a["bid"], "abalance": units(a["balance_cents"]),
            "filler": a["filler"], "notes": n and n["notes"]}


history = transform.sql(
    "pgbench_history", key=["hid"], targets={"history": {"hid": "hid"}},
    f={"history": {"tid": "tid", "bid": "bid", "aid": "aid",
                   "delta_cents": "delta::bigint * 100",
                   "mtime": "mtime AT TIME ZONE 'UTC'", "filler": "filler"}})


@history.reference
def history_f(row):
    mtime = row["mtime"]
    return {"history": {"hid": row["hid"], "tid": row["tid"], "bid": row["bid"],
                        "aid": row["aid"], "delta_cents": cents(row["delta"]),
                        "mtime": None if mtime is None else _zoned(mtime),
                        "filler": row["filler"]}}


@history.inverse
def history_back(rows):
    h = rows["history"]
    if h is None:
        return None
    mtime = h["mtime"]
    return {"hid": h["hid"], "tid": h["tid"], "bid": h["bid"], "aid": h["aid"],
            "delta": units(h["delta_cents"]),
            "mtime": None if mtime is None else _unzoned(mtime), "filler": h["filler"]}


def _zoned(text):
    # greenswap's sessions print times in UTC, so a zone-less time is read as UTC.
    return text if text in ("infinity", "-infinity") else text + "+00"


def _unzoned(text):
    return text[:-3] if text.endswith("+00") else text
