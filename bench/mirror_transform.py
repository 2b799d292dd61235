"""The bench's like-for-like transform: blue's accounts into a table of the same
shape on green (mirror.accounts), f in SQL, column for column.

Native replication writes one subscriber row per blue row; the sample app's f
writes two (accounts and addresses), so its figures weigh the transform's fan-out
as well as greenswap's machinery. Against native into the same shape, this one
weighs the machinery alone (bench/replay.py --f mirror).
"""

from orchestrator.db.transform import Transform

transform = Transform()
COLUMNS = ("full_name", "email", "balance", "street", "city", "created_at")
TARGET = "mirror.accounts"

accounts = transform.sql("accounts", key=["id"], targets={TARGET: {"id": "id"}},
                         f={TARGET: {c: c for c in COLUMNS}})


@accounts.inverse
def accounts_back(rows):
    row = rows[TARGET]
    return None if row is None else dict(row)
