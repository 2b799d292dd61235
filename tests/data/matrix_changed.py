"""The type matrix's type-changing transform: green keeps the same tables with some
types changed (tests/integration/test_type_matrix.py has both schemas):

- keys: k_int int -> bigint, k_uuid uuid -> text, k_ts timestamp -> text (a key
  keeps its value, as the contract says; only its type may change);
- n numeric(12,3) -> bigint thousandths; r real -> double precision;
- vc varchar(20) -> label text (renamed); ia int[] -> bigint[]; js json -> jsonb.
"""

from decimal import Decimal

from orchestrator.db.transform import Transform

KEYS = {"k_int": ["id"], "k_bigint": ["id"], "k_text": ["id"], "k_uuid": ["id"],
        "k_ts": ["id"], "k_tstz": ["id"], "k_date": ["id"], "k_numeric": ["id"],
        "k_composite": ["id", "day"], "k_flag": ["flag", "id"]}
MILLI = Decimal("0.001")
transform = Transform()


def _milli(value):
    return None if value is None else int(value * 1000)


def _unmilli(value):
    return None if value is None else (Decimal(value) / 1000).quantize(MILLI)


def _forward(table):
    def f(row):
        new = dict(row)
        new["n"] = _milli(row["n"])
        new["label"] = new.pop("vc")
        return {table: new}
    return f


def _inverse(table):
    def g(rows):
        row = rows[table]
        if row is None:
            return None
        old = dict(row)
        old["n"] = _unmilli(row["n"])
        old["vc"] = old.pop("label")
        return old
    return g


for _name, _key in KEYS.items():
    transform.table(_name, _key, {_name: {c: c for c in _key}})(_forward(_name)).inverse(
        _inverse(_name))
