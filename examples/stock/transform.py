"""stock 1.x (blue) to 2.x (green): products becomes stock_levels (qty is on_hand,
widened to bigint), a move's delta becomes its quantity, audit becomes audit_log
with its sequence. g puts each back."""

from orchestrator.db.transform import Transform

transform = Transform()
transform.sequence("audit_log_id_seq", blue="audit_id_seq")


@transform.table("products", key=["sku"], targets={"stock_levels": {"sku": "sku"}})
def products(row):
    return {"stock_levels": {"sku": row["sku"], "name": row["name"], "on_hand": row["qty"],
                             "moves": row["moves"], "updated_at": row["updated_at"]}}


@products.inverse
def products_back(rows):
    s = rows["stock_levels"]
    return None if s is None else {"sku": s["sku"], "name": s["name"], "qty": s["on_hand"],
                                   "moves": s["moves"], "updated_at": s["updated_at"]}


@transform.table("moves", key=["id"], targets={"moves": {"id": "id"}})
def moves(row):
    return {"moves": {"id": row["id"], "sku": row["sku"], "quantity": row["delta"],
                      "at": row["at"]}}


@moves.inverse
def moves_back(rows):
    m = rows["moves"]
    return None if m is None else {"id": m["id"], "sku": m["sku"], "delta": m["quantity"],
                                   "at": m["at"]}


@transform.table("audit", key=["id"], targets={"audit_log": {"id": "id"}})
def audit(row):
    return {"audit_log": {"id": row["id"], "sku": row["sku"], "message": row["note"],
                          "at": row["at"]}}


@audit.inverse
def audit_back(rows):
    a = rows["audit_log"]
    return None if a is None else {"id": a["id"], "sku": a["sku"], "note": a["message"],
                                   "at": a["at"]}
