"""The sample app's v1 -> v2 transform: the worked example of docs/transform.md.

v1 accounts(id, full_name, email, balance numeric, street, city, created_at)
v2 accounts(id, first_name, last_name, email, balance_cents bigint, created_at)
   addresses(account_id, street, city)

f and g map column by column, so both are declared in SQL: the snapshot, replay
(both ways) and verify run them inside PostgreSQL. The Python f below is f's
reference: `greenswap transform check` proves the two equal on sampled and
generated rows, and g(f(row)) == row.
"""

from orchestrator.db.transform import Transform

transform = Transform()


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
    # g: blue's row from the key's green rows, each table by its name (NULLs where it
    # has none: an account without an address row had no address).
    g={
        "full_name": "CASE WHEN accounts.last_name IS NULL THEN accounts.first_name"
                     " ELSE accounts.first_name || ' ' || accounts.last_name END",
        "email": "accounts.email",
        "balance": "accounts.balance_cents::numeric / 100",
        "street": "coalesce(addresses.street, '')",
        "city": "coalesce(addresses.city, '')",
        "created_at": "accounts.created_at",
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
