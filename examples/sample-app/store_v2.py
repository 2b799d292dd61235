"""Schema v2: the name split in two, money in integer cents, the address in its own table."""

import decimal

VERSION = "2.0"
SCHEMA = 2


def split_name(name):
    first, space, last = name.partition(" ")
    return first, (last if space else None)


def create(cur, account):
    first, last = split_name(account["name"])
    cents = int(account["balance"] * 100)
    cur.execute(
        "INSERT INTO accounts (first_name, last_name, email, balance_cents)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (first, last, account["email"], cents),
    )
    new_id = cur.fetchone()[0]
    cur.execute(
        "INSERT INTO addresses (account_id, street, city) VALUES (%s, %s, %s)",
        (new_id, account["street"], account["city"]),
    )
    return new_id


def get(cur, account_id):
    cur.execute(
        "SELECT a.first_name, a.last_name, a.email, a.balance_cents, d.street, d.city"
        " FROM accounts a LEFT JOIN addresses d ON d.account_id = a.id WHERE a.id = %s",
        (account_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    first, last, email, cents, street, city = row
    name = first if last is None else f"{first} {last}"
    balance = (decimal.Decimal(cents) / 100).quantize(decimal.Decimal("0.01"))
    return {"id": account_id, "name": name, "email": email, "balance": balance,
            "street": street or "", "city": city or ""}
