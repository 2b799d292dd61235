"""The config's `aws` section: what Terraform made (for the AWS provider, the ALB and
the DynamoDB lease) and the endpoint to reach it by."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator.config.section import REQUIRED, Section, setting_names, shown
from orchestrator.errors import ConfigError

ENDPOINT = re.compile(r"^https?://[A-Za-z0-9.\[\]:-]+/?$")


@dataclass(frozen=True)
class Aws:
    terraform_outputs: Path  # a saved `terraform output -json`, or the module's directory
    endpoint_url: str | None = None  # a private endpoint; None for AWS's own

    @classmethod
    def read(cls, section: Section) -> Aws | None:
        if not section.raw:
            return None
        outputs = section.path("terraform_outputs", default=REQUIRED)
        if not outputs.exists():
            raise ConfigError("aws.terraform_outputs", f"{shown(str(outputs))} does not exist",
                              "save 'terraform output -json' there, or name the terraform/"
                              " directory")
        aws = cls(outputs, section.optional_text("endpoint_url", pattern=ENDPOINT))
        section.no_unknown(setting_names(cls))
        return aws
