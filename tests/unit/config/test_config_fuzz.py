"""The config loader, fuzzed: documents made from the sample config by dropping,
retyping and re-nesting settings and by odd scalars are either accepted or refused
with a ConfigError (one line, exit 3 at the CLI), never anything else."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator import config
from orchestrator.errors import ConfigError
from tests.sample_app import sample_doc

ODD = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.just(""), st.just("../../etc/passwd"), st.just("x" * 500), st.just([]), st.just({}),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2))


def paths(doc, prefix=()):
    """Every (path, value) in the document, mappings and lists alike."""
    yield prefix, doc
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(
        doc, list) else ()
    for key, value in items:
        yield from paths(value, (*prefix, key))


SAMPLE = sample_doc()
PLACES = [p for p, _ in paths(SAMPLE) if p]


def mutate(doc, place, how, odd):
    *parents, last = place
    parent = doc
    for key in parents:
        parent = parent[key]
    if how == "drop":
        del parent[last]
    elif how == "retype":
        parent[last] = odd
    elif how == "nest":
        parent[last] = {"x": parent[last]}
    elif how == "listify":
        parent[last] = [parent[last]]
    elif how == "stringify":
        parent[last] = str(parent[last])
    elif how == "number key" and isinstance(parent, dict):
        parent[7] = parent.pop(last)


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PLACES),
                          st.sampled_from(["drop", "retype", "nest", "listify", "stringify",
                                           "number key"]),
                          ODD), min_size=1, max_size=4))
def test_a_mutated_config_is_accepted_or_refused_with_a_config_error(mutations):
    doc = copy.deepcopy(SAMPLE)
    doc["state_dir"] = "/nonexistent/greenswap-fuzz"
    for place, how, odd in mutations:
        try:
            mutate(doc, place, how, odd)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped its parent
    try:
        text = yaml.safe_dump(doc, sort_keys=False)
    except yaml.YAMLError:
        return
    path = Path(SAMPLE["database"]["transform"]).parent / "fuzz.yml"
    try:
        config.parse(yaml.safe_load(text), path)
    except ConfigError as exc:
        line = exc.one_line()
        assert "\n" not in line and len(line) < 600, line
