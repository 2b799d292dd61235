import ipaddress

import pytest

from orchestrator.errors import ConfigError
from orchestrator.lab.settings import LabSettings


def test_defaults_are_inside_the_benchmarking_range():
    s = LabSettings.parse()
    assert s.subnet == ipaddress.IPv4Network("198.18.0.0/24")
    assert str(s.gateway) == "198.18.0.1"
    assert str(s.address(0)) == "198.18.0.10"
    assert s.bridge == "gs-br"
    assert s.repo_url == "http://198.18.0.1:8080/"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"subnet": "10.0.0.0/24"}, "--subnet"),
        ({"subnet": "198.20.0.0/24"}, "--subnet"),
        ({"subnet": "198.18.0.0/29"}, "--subnet"),
        ({"subnet": "198.18.0.1/24"}, "--subnet"),  # host bits set
        ({"subnet": "not-a-net"}, "--subnet"),
        ({"name": "Bad"}, "--name"),
        ({"name": "toolongname"}, "--name"),
        ({"repo_port": 70000}, "repo_port"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        LabSettings.parse(**kwargs)
    assert err.value.field == field
    assert "\n" not in err.value.one_line()


def test_interface_names_fit_the_kernel_limit():
    s = LabSettings.parse(name="abcdef")
    assert len(s.bridge) <= 15
    assert len(s.veth(999)) <= 15


def test_subnet_runs_out_of_room_with_a_clear_error():
    s = LabSettings.parse(subnet="198.18.0.0/26")
    assert str(s.address(52)) == "198.18.0.62"
    with pytest.raises(ConfigError, match="no room"):
        s.address(53)


def test_resolve_refuses_a_different_subnet_for_an_existing_lab(tmp_path):
    s = LabSettings.parse(subnet="198.18.4.0/24", state_root=tmp_path)
    s.save()
    assert LabSettings.resolve(state_root=tmp_path).subnet == s.subnet
    with pytest.raises(ConfigError, match="already runs on 198.18.4.0/24"):
        LabSettings.resolve(subnet="198.18.5.0/24", state_root=tmp_path)


def test_mac_follows_the_address():
    from orchestrator.lab.network import mac_for

    assert mac_for(ipaddress.IPv4Address("198.18.0.14")) == "02:00:c6:12:00:0e"
