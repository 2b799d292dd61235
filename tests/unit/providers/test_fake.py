import pytest

from orchestrator.errors import InputError
from orchestrator.providers.fake import FakeProvider


def test_create_and_destroy_by_role():
    p = FakeProvider()
    made = p.create_hosts("app", 2, "green")
    assert [h.name for h in made] == ["green-app-1", "green-app-2"]
    p.destroy_hosts(["green-app-1"])
    assert [h.name for h in p.create_hosts("app", 1, "green")] == ["green-app-1"]


@pytest.mark.parametrize(
    ("role", "count", "color", "match"),
    [
        ("web", 1, "green", "unknown role 'web'"),
        ("app", 0, "green", "count"),
        ("app", 1, "purple", "unknown colour"),
        ("lb", 1, "green", "no colour"),
    ],
)
def test_bad_requests_are_refused(role, count, color, match):
    with pytest.raises(InputError, match=match):
        FakeProvider().create_hosts(role, count, color)


def test_destroying_an_unknown_host_destroys_nothing():
    p = FakeProvider()
    p.create_hosts("app", 1, "blue")
    with pytest.raises(InputError):
        p.destroy_hosts(["blue-app-1", "nope"])
    assert [h.name for h in p.hosts()] == ["blue-app-1"]
