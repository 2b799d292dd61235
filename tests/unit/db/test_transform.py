from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.db.mapping import Forward, Reverse
from orchestrator.db.transform import Transform, identity, load
from orchestrator.errors import TransformError

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "transform.py"
SAMPLE_PYTHON = Path(__file__).resolve().parents[2] / "data" / "sample_app_python.py"

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1)
v1_rows = st.fixed_dictionaries({
    "id": st.integers(1, 2**62),
    "full_name": names,
    "email": st.text(),
    "balance": st.decimals(min_value=-10**9, max_value=10**9, places=2, allow_nan=False),
    "street": st.text(),
    "city": st.text(),
    "created_at": st.just("2026-11-25 09:00:00.123456+00"),
})


@given(v1_rows)
def test_sample_transform_round_trips(row):
    tt = load(SAMPLE_PYTHON).tables["accounts"]
    out = tt.apply(row)
    assert out["accounts"]["id"] == out["addresses"]["account_id"] == row["id"]
    back = tt.backward(out)
    assert back == {**row, "balance": row["balance"].quantize(Decimal("0.01"))}


def test_bad_modules_are_refused_with_the_reason(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(TransformError, match="no file"):
        load(missing)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(TransformError, match="failed to import: RuntimeError: boom"):
        load(broken)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(TransformError, match="defines no `transform"):
        load(empty)


def test_key_mapping_must_cover_blue_key_once():
    t = Transform()
    with pytest.raises(TransformError, match="exactly once"):
        t.table("a", ["id", "v"], {"b": {"id": "id"}})(lambda r: {})
    t.table("a", ["id"], {"b": {"id": "id"}})(lambda r: {})
    with pytest.raises(TransformError, match="already written by a"):
        t.table("c", ["id"], {"b": {"id": "id"}})(lambda r: {})


def test_f_writing_an_undeclared_table_is_refused():
    t = Transform()
    tt = t.table("a", ["id"], {"b": {"id": "id"}})(lambda r: {"c": r})
    with pytest.raises(TransformError, match="undeclared table"):
        tt.apply({"id": 1})


ROW = {"id": 7, "full_name": "A B", "email": "e", "balance": Decimal("1.00"), "street": "s",
       "city": "c", "created_at": "x"}


def test_forward_resolves_deletes_key_changes_and_empty_targets():
    t = load(SAMPLE_PYTHON)
    writes = Forward(t).resolve({("accounts", (7,)): ROW, ("accounts", (6,)): None},
                                read=lambda *_: {})
    assert set(writes["accounts"].upserts) == {(7,)} and writes["accounts"].deletes == {(6,)}
    assert set(writes["addresses"].upserts) == {(7,)} and writes["addresses"].deletes == {(6,)}
    assert not writes["accounts"].computed


def test_a_sql_f_leaves_the_row_to_the_target_and_never_runs_python():
    t = load(SAMPLE)
    t.tables["accounts"].forward = None  # the reference is for `check` only
    as_sent = tuple(ROW.values())  # the stream keeps a SQL table's rows as the log sent them
    changed = as_sent[:1] + ("Changed",) + as_sent[2:]
    writes = Forward(t).resolve(
        {("accounts", (7,)): as_sent, ("accounts", (6,)): None, ("accounts", (5,)): changed},
        read=lambda *_: {}, fresh={("accounts", (7,))})
    for table in ("accounts", "addresses"):
        w = writes[table]
        assert w.computed == {(5,): changed} and w.deletes == {(6,)}
        assert w.computed_fresh == {(7,): as_sent}  # first seen as an insert: no upsert
        assert not w.upserts and not w.inserts
    # One set of rows for all of the source's green tables: encoded and staged once.
    assert writes["accounts"].computed is writes["addresses"].computed
    assert writes["accounts"].computed_fresh is writes["addresses"].computed_fresh


def test_a_sql_f_is_declared_for_exactly_its_targets_and_never_writes_a_key():
    t = Transform()
    with pytest.raises(TransformError, match="exactly the tables in targets="):
        t.sql("a", ["id"], {"b": {"id": "id"}}, f={"c": {"v": "v"}})
    with pytest.raises(TransformError, match="writes its key column id"):
        t.sql("a", ["id"], {"b": {"id": "id"}}, f={"b": {"id": "id + 1"}})
    with pytest.raises(TransformError, match="b.v is not a SQL expression"):
        t.sql("a", ["id"], {"b": {"id": "id"}}, f={"b": {"v": " "}})
    tt = t.sql("a", ["k2", "k1"], {"b": {"g1": "k1", "g2": "k2"}}, f={"b": {"v": "w * 2"}})
    # The key first, in blue's key order, under green's names; expressions bracketed.
    assert tt.sql_select("b", {}) == (("g2", "g1", "v"), ('"k2"', '"k1"', "(w * 2)"))
    # Cast to green's types where given: the same value on either server.
    assert tt.sql_select("b", {"v": "double precision", "g1": "bigint"})[1] == (
        '"k2"', 'CAST("k1" AS bigint)', "CAST((w * 2) AS double precision)")
    with pytest.raises(TransformError, match="f is SQL, with no Python reference"):
        tt.apply({"k1": 1, "k2": 2, "w": 3})
    with pytest.raises(TransformError, match="reference is for tables declared with"):
        t.table("c", ["id"], {"d": {"id": "id"}})(lambda r: {}).reference(lambda r: {})


def test_reverse_rebuilds_the_blue_row_from_current_green_rows():
    t = load(SAMPLE_PYTHON)  # g in Python (the sample app's own is SQL)
    green = {
        "accounts": {(7,): {"id": 7, "first_name": "A", "last_name": None, "email": "e",
                            "balance_cents": 150, "created_at": "x"}},
        "addresses": {},  # the address row is gone
    }
    writes = Reverse(t).resolve(
        {("accounts", (7,)): None, ("accounts", (8,)): None},
        read=lambda table, keys: {k: green[table][k] for k in keys if k in green[table]},
    )
    assert writes["accounts"].upserts[(7,)]["full_name"] == "A"
    assert writes["accounts"].upserts[(7,)]["street"] == ""
    assert writes["accounts"].deletes == {(8,)}


def test_identity_copies_both_ways():
    t = identity({"items": ["id"]})
    tt = t.tables["items"]
    assert tt.apply({"id": 1, "v": "x"}) == {"items": {"id": 1, "v": "x"}}
    assert tt.backward({"items": {"id": 1, "v": "x"}}) == {"id": 1, "v": "x"}


def test_a_sql_g_is_declared_over_green_tables_by_bare_name_and_never_writes_the_key():
    t = Transform()
    with pytest.raises(TransformError, match="g= for a writes its key column id"):
        t.sql("a", ["id"], {"b": {"id": "id"}}, f={"b": {"v": "v"}}, g={"id": "b.id"})
    with pytest.raises(TransformError, match="g= must be a dict"):
        t.sql("a", ["id"], {"b": {"id": "id"}}, f={"b": {"v": "v"}}, g="b.v")  # type: ignore[arg-type]
    with pytest.raises(TransformError, match="two of them share one"):
        t.sql("a", ["id"], {"s1.b": {"id": "id"}, "s2.b": {"id": "id"}},
              f={"s1.b": {}, "s2.b": {}}, g={"v": "b.v"})
    tt = t.sql("a", ["k1", "k2"], {"b": {"g2": "k2", "g1": "k1"}}, f={"b": {"v": "w"}},
               g={"w": "b.v * 2", "e": "b.e"})
    with pytest.raises(TransformError, match="in Python or in SQL, not both"):
        tt.inverse(lambda rows: None)
    assert tt.has_inverse and tt.green_order("b") == ("g1", "g2")
    # Every blue column but the key, in blue's order; cast to blue's built-in types,
    # through text for the others (blue's own enum, say).
    assert tt.inverse_select(["k1", "e", "w", "k2"], {"w": "integer"}) == (
        ("e", "w"), ("((b.e))::text", "CAST((b.v * 2) AS integer)"))
    with pytest.raises(TransformError, match="but its key: x missing; e not on blue"):
        tt.inverse_select(["k1", "k2", "w", "x"], {})
