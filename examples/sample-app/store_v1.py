"""Schema v1: one accounts table, the name in one column, money as numeric."""

VERSION = "1.0"
SCHEMA = 1


def create(cur, account):
    cur.execute(
        "INSERT INTO accounts (full_name, email, balance, street, city)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (account["name"], account["email"], account["balance"], account["street"],
         account["city"]),
    )
    return cur.fetchone()[0]


def get(cur, account_id):
    cur.execute(
        "SELECT full_name, email, balance, street, city FROM accounts WHERE id = %s",
        (account_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    name, email, balance, street, city = row
    return {"id": account_id, "name": name, "email": email, "balance": balance,
            "street": street, "city": city}
