"""`greenswap init`: a first rollout config, transform and deploy playbook for your
app, drafted from blue's and green's schemas. It never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.output import say
from orchestrator.config import NAME
from orchestrator.db import scaffold
from orchestrator.errors import InputError

CONFIG = """\
# greenswap's rollout config, drafted by `greenswap init`: every setting is in
# docs/config.md. Secrets are never here: export them (database.*_password_env).
environment: {environment}
provider:
  kind: static            # TODO: static (your servers), aws, or lab
  inventory: hosts.yml    # TODO: groups blue_app, blue_db, green_app, green_db, lb
  ssh_key: id_ed25519
  known_hosts: known_hosts
  green_hosts: {{app: 2, db: 1}}
app:
  version: "TODO"         # the version green gets
  port: 8000              # TODO: your app's port
  health_path: /health    # TODO: answers 200 once your app is ready
  deploy: deploy.yml      # your deploy playbook (docs/app-contract.md)
database:
  dbname: {dbname}
  app_user: TODO          # the role your app logs in as; it owns the schema
  admin_user: greenswap   # greenswap's own role ('greenswap db prepare' makes it)
  migrations: []          # TODO: green's schema change, SQL files run once each
  transform: transform.py
lb:
  kind: haproxy
  host: TODO              # the LB host's name in the inventory
checks:
  - name: healthy
    kind: http
    path: /health         # TODO: as app.health_path
    scopes: [preflight, verify, bake]
"""

DEPLOY = """\
# Your app's deploy playbook, drafted by `greenswap init`: its inputs and duties
# are in docs/app-contract.md. Idempotent; leaves the app serving health_path on
# app_port; never touches the schema. The password is in the environment.
- name: Deploy the app
  hosts: "{{ target }}"
  gather_facts: false
  tasks:
    - name: TODO install app_version
      ansible.builtin.debug:
        msg: >-
          install {{ app_version }}; its database is
          {{ db_user }}@{{ db_host }}:{{ db_port }}/{{ db_name }}

    - name: Wait until it answers its health path
      ansible.builtin.uri:
        url: "http://127.0.0.1:{{ app_port }}{{ health_path }}"
      register: health
      retries: 50
      delay: 0.2
      until: health.status == 200
"""


@click.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--blue", envvar="GREENSWAP_BLUE_DSN", required=True, help="Blue's DSN.")
@click.option("--green", envvar="GREENSWAP_GREEN_DSN", required=True,
              help="Green's DSN, with the new schema already migrated.")
@click.option("--environment", default="production", show_default=True,
              help="The environment's name in the config.")
def init(directory: Path, blue: str, green: str, environment: str) -> None:
    """Draft rollout.yml, transform.py and deploy.yml in DIRECTORY from both schemas."""
    if not NAME.match(environment):
        raise InputError(f"--environment: {environment!r} does not match {NAME.pattern}")
    files = {name: directory / name for name in ("rollout.yml", "transform.py", "deploy.yml")}
    there = [str(path) for path in files.values() if path.exists()]
    if there:
        raise InputError(f"DIRECTORY: {', '.join(there)} already exist(s); init never"
                         " overwrites a file", "give an empty directory")
    transform, todos = scaffold.draft(scaffold.read_schema(blue), scaffold.read_schema(green))
    dbname = dict(part.split("=", 1) for part in blue.split() if "=" in part).get("dbname", "TODO")
    directory.mkdir(parents=True, exist_ok=True)
    files["transform.py"].write_text(transform)
    files["rollout.yml"].write_text(CONFIG.format(environment=environment, dbname=dbname))
    files["deploy.yml"].write_text(DEPLOY)
    say(f"wrote {', '.join(str(p) for p in files.values())}; {todos} TODO(s) in transform.py:"
        f" 'greenswap transform check {files['transform.py']} --blue ... --green ...' points"
        " at each")
