"""Making a blue database greenswap did not build ready for a swap: greenswap's
role with its grants (the same template postgres.yml applies to every database it
builds), and the server settings logical replication needs. `greenswap db prepare`
prints them; with --apply it runs them as a superuser."""

from __future__ import annotations

import jinja2

from orchestrator.db.connect import connect
from orchestrator.remote.ansible import PLAYBOOKS

ROLE_TEMPLATE = PLAYBOOKS / "templates" / "greenswap-role.sql.j2"
# At least these; a server that has more keeps them. wal_level and both limits
# take effect only at the server's next restart.
AT_LEAST = {"max_replication_slots": 10, "max_wal_senders": 10}


def role_sql(admin_user: str, app_user: str, admin_password_scram: str = "") -> str:
    """The SQL that creates or updates greenswap's role; the password only as a SCRAM
    verifier, and only when given (printed SQL never carries one)."""
    template = jinja2.Template(ROLE_TEMPLATE.read_text(), undefined=jinja2.StrictUndefined)
    return template.render(admin_user=admin_user, db_user=app_user,
                           admin_password_scram=admin_password_scram)


def settings_sql() -> str:
    return "\n".join(["ALTER SYSTEM SET wal_level = 'logical';",
                      *(f"ALTER SYSTEM SET {name} = {least};" for name, least in AT_LEAST.items())])


def apply(superuser_dsn: str, admin_user: str, app_user: str,
          admin_password_scram: str) -> list[str]:
    """Run the role's SQL, and raise the settings that are below what a swap needs.
    Returns what is left for the operator, one line each (a restart, pg_hba)."""
    conn = connect(superuser_dsn, "prepare")
    conn.autocommit = True
    left = []
    try:
        with conn.cursor() as cur:
            cur.execute(role_sql(admin_user, app_user, admin_password_scram))
            wanted: dict[str, str] = {}
            cur.execute("SELECT current_setting('wal_level')")
            if cur.fetchone()[0] != "logical":
                wanted["wal_level"] = "logical"
            for name, least in AT_LEAST.items():
                cur.execute("SELECT current_setting(%s)::int", (name,))
                if cur.fetchone()[0] < least:
                    wanted[name] = str(least)
            for name, value in wanted.items():
                cur.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
                left.append(f"{name} set to {value}: restart PostgreSQL for it to take effect")
    finally:
        conn.close()
    return left
