"""COMMITMENTS_READ_DATABASE_URL: optional, a PostgreSQL replica of a PostgreSQL primary,
refused with a one-line message naming it otherwise (tests/integration/test_replica.py
runs it against a real standby)."""

from __future__ import annotations

import pytest

from adapters.settings import ConfigurationError, load_settings

PRIMARY = "postgresql+psycopg://app@primary.example/tracker"


def test_without_it_every_read_goes_to_the_database() -> None:
    assert load_settings({"COMMITMENTS_DATABASE_URL": PRIMARY}).read_database_url is None
    blank = {"COMMITMENTS_DATABASE_URL": PRIMARY, "COMMITMENTS_READ_DATABASE_URL": " "}
    assert load_settings(blank).read_database_url is None


def test_a_replica_url_is_normalised_to_psycopg() -> None:
    env = {
        "COMMITMENTS_DATABASE_URL": PRIMARY,
        "COMMITMENTS_READ_DATABASE_URL": "postgresql://reader:s3cret@replica.example/tracker",
    }
    assert (
        load_settings(env).read_database_url
        == "postgresql+psycopg://reader:s3cret@replica.example/tracker"
    )


@pytest.mark.parametrize(
    ("primary", "replica", "message"),
    [
        (PRIMARY, "::nonsense::", "COMMITMENTS_READ_DATABASE_URL is not a database URL"),
        (PRIMARY, "mysql://replica/x", "COMMITMENTS_READ_DATABASE_URL: unsupported database"),
        (PRIMARY, "sqlite:///replica.sqlite", "needs PostgreSQL on both sides"),
        ("sqlite:///var/x.sqlite", PRIMARY, "needs PostgreSQL on both sides"),
        (None, PRIMARY, "needs PostgreSQL on both sides"),  # the SQLite default
    ],
)
def test_a_replica_that_cannot_be_one_is_refused_in_one_line(
    primary: str | None, replica: str, message: str
) -> None:
    env = {"COMMITMENTS_READ_DATABASE_URL": replica}
    if primary is not None:
        env["COMMITMENTS_DATABASE_URL"] = primary
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
