"""Shapes of AWS identifiers, checked on our side before any call.

AWS refuses a malformed ARN or ID with an error of its own, but emulators do not
always (moto takes any string as a listener's target group ARN), and an ARN from
another region or account would send a flip somewhere it must never go. So every
identifier greenswap acts on is checked here first, and refused naming its field.
"""

from __future__ import annotations

import re

from orchestrator.errors import ConfigError

_HEX = "[0-9a-f]"
ID_PATTERNS = {
    "ami": re.compile(rf"^ami-{_HEX}{{8}}({_HEX}{{9}})?$"),
    "lt": re.compile(rf"^lt-{_HEX}{{17}}$"),
    "sg": re.compile(rf"^sg-{_HEX}{{8}}({_HEX}{{9}})?$"),
    "subnet": re.compile(rf"^subnet-{_HEX}{{8}}({_HEX}{{9}})?$"),
    "vpc": re.compile(rf"^vpc-{_HEX}{{8}}({_HEX}{{9}})?$"),
}
_ELB_ARN = (r"^arn:aws(-cn|-us-gov)?:elasticloadbalancing:"
            r"(?P<region>[a-z]{2}(-[a-z]+)+-\d):(?P<account>\d{12}):")
_NAME = "[A-Za-z0-9-]{1,32}"
ARN_PATTERNS = {
    "targetgroup": re.compile(_ELB_ARN + rf"targetgroup/{_NAME}/{_HEX}{{16}}$"),
    "listener": re.compile(_ELB_ARN + rf"listener/app/{_NAME}/{_HEX}{{16}}/{_HEX}{{16}}$"),
}
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


def check_id(field: str, value: object, kind: str) -> str:
    if not isinstance(value, str) or not ID_PATTERNS[kind].match(value):
        raise ConfigError(field, f"{value!r} is not an AWS {kind}- ID "
                                 f"(like {kind}-0123456789abcdef0)")
    return value


def check_arn(field: str, value: object, kind: str, region: str | None = None) -> str:
    match = ARN_PATTERNS[kind].match(value) if isinstance(value, str) else None
    if match is None or not isinstance(value, str):
        raise ConfigError(field, f"{value!r} is not an ELB {kind} ARN")
    if region is not None and match["region"] != region:
        raise ConfigError(field, f"{value} is in region {match['region']}, not {region}")
    return value


def check_table(field: str, value: object) -> str:
    if not isinstance(value, str) or not TABLE_NAME.match(value):
        raise ConfigError(field, f"{value!r} is not a DynamoDB table name")
    return value
