"""provider.kind names an installed provider, and the rest of the section is that
provider's own: read by it when the file is loaded, refused there when wrong."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from orchestrator import config
from orchestrator.config import provider as provider_section
from orchestrator.config.section import Section
from orchestrator.errors import ConfigError
from orchestrator.providers.base import ProviderKind
from tests.sample_app import sample_doc

SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-app" / "rollout.yml"


@dataclass(frozen=True)
class RackSettings:
    """A provider another package brings: hosts from a rack, by its name."""

    rack: str
    state_dir = Path("/srv/rack-journal")

    @classmethod
    def read(cls, section: Section) -> RackSettings:
        return cls(section.text("rack"))


RACK = ProviderKind(RackSettings.read, lambda cfg: None)  # type: ignore[arg-type, return-value]


@pytest.fixture
def with_rack(monkeypatch):
    installed = dict(provider_section._installed())
    rack = EntryPoint("rack", f"{__name__}:RACK", provider_section.ENTRY_POINTS)
    monkeypatch.setattr(provider_section, "_installed", lambda: {**installed, "rack": rack})


def parse(provider: dict) -> config.Config:
    return config.parse({**sample_doc(), "provider": provider}, SAMPLE)


def test_an_installed_provider_reads_its_own_settings(with_rack):
    cfg = parse({"kind": "rack", "rack": "r7", "green_hosts": {"app": 3}})
    assert cfg.provider.settings == RackSettings("r7")
    assert cfg.provider.green_hosts == {"app": 3, "db": 1}
    assert cfg.state_dir == Path("/srv/rack-journal")  # the provider's default


@pytest.mark.parametrize("provider, field", [
    ({"kind": "rack"}, "provider.rack"),  # its own setting, required by it
    ({"kind": "rack", "rack": "r7", "inventory": "hosts.yml"}, "provider.inventory"),
    ({"kind": "nomad"}, "provider.kind"),
])
def test_a_provider_mistake_names_its_field(with_rack, provider, field):
    with pytest.raises(ConfigError) as err:
        parse(provider)
    assert err.value.field == field, err.value.one_line()


def test_an_unknown_kind_lists_the_installed_ones():
    with pytest.raises(ConfigError, match=r"'nomad' is not an installed provider "
                                          r"\(installed: aws, lab, static\)"):
        parse({"kind": "nomad"})


def open_lab(cfg):  # what an entry point named before providers read their own settings
    return None


def test_a_stale_entry_point_is_one_line_naming_the_fix(monkeypatch):
    installed = dict(provider_section._installed())
    stale = EntryPoint("rack", f"{__name__}:open_lab", provider_section.ENTRY_POINTS)
    monkeypatch.setattr(provider_section, "_installed", lambda: {**installed, "rack": stale})
    with pytest.raises(ConfigError) as err:
        parse({"kind": "rack"})
    assert err.value.field == "provider.kind"
    assert "is not a provider kind" in err.value.one_line()
    assert "reinstall greenswap" in err.value.one_line()
