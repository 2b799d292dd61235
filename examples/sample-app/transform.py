"""The sample app's v1 -> v2 transform: the worked example of docs/transform.md.

v1 accounts(id, full_name, email, balance numeric, street, city, created_at)
v2 accounts(id, first_name, last_name, email, balance_cents bigint, created_at)
   addresses(account_id, street, city)

f maps column by column, so it is declared in SQL: replay and the snapshot run it
inside PostgreSQL. The Python f below is its reference: `greenswap transform
check` proves the two equal on sampled and generated rows. g stays Python.
"""

from decimal import Decimal

from orchestrator.db.transform import Transform

transform = Transform()
CENT = Decimal("0.01")


accounts = transform.sql(
    "accounts", key=["id"],
    targets={"accounts": {"id": "id"}, "addresses": {"account_id": "id"}},
    f={
        "accounts": {
            "first_name": "split_part(full_name, ' ', 1)",
            # NULL when there was no space at all, so that g can tell "Cher" from "Cher ".
            "last_name": "CASE WHEN strpos(full_name, ' ') > 0"
                         " THEN substr(full_name, strpos(full_name, ' ') + 1) END",
            "email": "email",
            "balance_cents": "trunc(balance * 100)::bigint",
            "created_at": "created_at",
        },
        "addresses": {"street": "street", "city": "city"},
    },
)


@accounts.reference
def accounts_f(row):
    first, space, last = row["full_name"].partition(" ")
    return {
        "accounts": {
            "id": row["id"],
            "first_name": first,
            # None when there was no space at all, so that g can tell "Cher" from "Cher ".
            "last_name": last if space else None,
            "email": row["email"],
            "balance_cents": int(row["balance"] * 100),
            "created_at": row["created_at"],
        },
        "addresses": {"account_id": row["id"], "street": row["street"], "city": row["city"]},
    }


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
