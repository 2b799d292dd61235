"""Settings that are each valid alone but do not work together: checked once the
whole file is read, each refusal naming the field to change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.errors import ConfigError

if TYPE_CHECKING:
    from orchestrator.config import Config


def check_combination(cfg: Config) -> None:
    """Settings that are each valid but do not work together."""
    lb, db, provider, cutover = cfg.lb, cfg.database, cfg.provider.kind, cfg.cutover
    if cfg.lease.backend == "dynamodb" and cfg.aws is None:
        raise ConfigError("lease.backend", "dynamodb needs the aws section (aws.terraform_outputs "
                          "names the lease table)")
    if provider == "aws" and cfg.aws is None:
        raise ConfigError("aws", "is required with provider.kind aws",
                          "aws.terraform_outputs names what Terraform made")
    if lb.kind == "haproxy" and not lb.host:
        raise ConfigError("lb.host", "is required for lb.kind haproxy")
    if db.shared and not db.host:
        raise ConfigError("database.host", "is required with database.mode shared",
                          "the address of the database both colours use")
    if not db.shared and db.host:
        raise ConfigError("database.host", "is only for database.mode shared; with swap "
                          "each colour's database host comes from the provider")
    if lb.kind == "aws-alb" and cfg.aws is None:
        raise ConfigError("aws", "is required with lb.kind aws-alb",
                          "aws.terraform_outputs names the listener and target groups")
    if lb.kind == "aws-alb" and not db.shared:
        raise ConfigError("lb.kind", "aws-alb needs database.mode shared: an ALB cannot hold "
                          "requests, which a database swap's pause needs",
                          "use HAProxy in front for a schema change, or share the database")
    if cutover.canary and lb.kind != "aws-alb":
        raise ConfigError("cutover.canary_steps", f"needs lb.kind aws-alb (a weighted "
                          f"listener); {lb.kind} flips all at once")
    if (provider == "aws") != (lb.kind == "aws-alb"):
        raise ConfigError("lb.kind", "aws-alb goes with provider.kind aws, and only with it: "
                          "green's hosts join their target group through their Auto Scaling "
                          "group")
    if db.shared and provider != "aws":
        raise ConfigError("database.mode", f"shared is supported with provider.kind aws only,"
                          f" not {provider}", "use database.mode swap")
    if db.shared and db.migrations:
        raise ConfigError("database.migrations", "are not run with database.mode shared: a "
                          "rollout does not change a shared database's schema")
    watched = cfg.bake.interval_s * cfg.bake.failures
    if cutover.canary and cutover.canary_interval_s < watched:
        raise ConfigError("cutover.canary_interval_s", f"must be at least bake.interval_s x "
                          f"bake.failures ({watched:g}s), or a canary step could never fail")
