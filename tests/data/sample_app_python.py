"""The sample app's transform with f and g in Python, not in SQL: the same tests run
through both paths (the SQL is the example's own). f is the example's reference;
g is written here, as the example had it before its g moved to SQL."""

from decimal import Decimal
from pathlib import Path

from orchestrator.db.transform import load

CENT = Decimal("0.01")

transform = load(Path(__file__).resolve().parents[2] / "examples" / "sample-app" / "transform.py")
accounts = transform.tables["accounts"]
accounts.sql = None  # its reference, the Python f, becomes f
accounts.inverse_sql = None


@accounts.inverse
def accounts_back(rows):
    account, address = rows["accounts"], rows["addresses"]
    if account is None:
        return None
    first, last = account["first_name"], account["last_name"]
    return {
        "id": account["id"],
        "full_name": first if last is None else f"{first} {last}",
        "email": account["email"],
        "balance": (Decimal(account["balance_cents"]) / 100).quantize(CENT),
        "street": address["street"] if address else "",
        "city": address["city"] if address else "",
        "created_at": account["created_at"],
    }
