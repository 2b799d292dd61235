"""The type matrix's identity transform: every table copied as it is (tests/integration/
test_type_matrix.py builds the tables)."""

from orchestrator.db.transform import identity

KEYS = {"k_int": ["id"], "k_bigint": ["id"], "k_text": ["id"], "k_uuid": ["id"],
        "k_ts": ["id"], "k_tstz": ["id"], "k_date": ["id"], "k_numeric": ["id"],
        "k_composite": ["id", "day"], "k_flag": ["flag", "id"]}
transform = identity(KEYS)
