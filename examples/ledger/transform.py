"""ledger 1.x (blue) to 2.x (green): clients becomes customers, its sequence
renamed with it, the id widened to bigint (same values), and street and city
become one jsonb address. g puts them back. jsonb travels as its JSON text."""

import json

from orchestrator.db.transform import Transform

transform = Transform()
transform.sequence("customers_id_seq", blue="clients_id_seq")


@transform.table("clients", key=["id"], targets={"customers": {"id": "id"}})
def clients(row):
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
