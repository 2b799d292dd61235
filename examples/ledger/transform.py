"""ledger 1.x (blue) to 2.x (green): clients becomes customers, its sequence
renamed with it, the id widened to bigint (same values), and street and city
become one jsonb address. g puts them back. jsonb travels as its JSON text.

f maps column by column, so it is SQL (replay runs it inside PostgreSQL); the
Python f is its reference, which `greenswap transform check` proves it equal to
(as jsonb values: the key order and escapes of the text may differ)."""

import json

from orchestrator.db.transform import Transform

transform = Transform()
transform.sequence("customers_id_seq", blue="clients_id_seq")


clients = transform.sql(
    "clients", key=["id"], targets={"customers": {"id": "id"}},
    f={"customers": {"name": "name", "email": "email", "balance": "balance",
                     "address": "jsonb_build_object('street', street, 'city', city)"}})


@clients.reference
def clients_f(row):
    address = json.dumps({"street": row["street"], "city": row["city"]}, sort_keys=True)
    return {"customers": {"id": row["id"], "name": row["name"], "email": row["email"],
                          "balance": row["balance"], "address": address}}


@clients.inverse
def clients_back(rows):
    c = rows["customers"]
    if c is None:
        return None
    address = json.loads(c["address"])
    return {"id": c["id"], "name": c["name"], "email": c["email"], "balance": c["balance"],
            "street": address.get("street", ""), "city": address.get("city", "")}
