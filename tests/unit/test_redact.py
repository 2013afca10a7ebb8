"""Credentials given with --var are written "[redacted]" in a run's experiment.json and
journal.json (harness/experiment/redact.py); everything else is written as given."""

from __future__ import annotations

import pytest

from harness.experiment.redact import credentials, scrub


@pytest.mark.parametrize("key", ["password", "DB_PASSWORD", "pgpass", "passphrase", "client_secret", "api_token",
                                 "credentials", "apiKey", "api-key", "private_key", "Authorization", "session_cookie"])
def test_names_that_look_like_credentials_are_hidden(key: str) -> None:
    assert credentials({key: "s3cret-value", "replicas_cut_off_s": "8"}) == ("s3cret-value",)


@pytest.mark.parametrize("key", ["replicas_cut_off_s", "broken_release", "deploy_guard", "name", "path", "keyspace"])
def test_ordinary_names_are_not(key: str) -> None:
    assert credentials({key: "value"}) == ()


def test_empty_values_hide_nothing_and_the_longest_comes_first() -> None:
    assert credentials({"password": "", "token": "abcd", "secret": "abcdefgh"}) == ("abcdefgh", "abcd")


def test_every_occurrence_is_replaced_in_nested_json() -> None:
    journal = {"experiment": {"configuration": {"api_token": "tok-12345", "lb_url": "https://127.0.0.1:8443"}},
               "run": [{"activity": {"provider": {"arguments": {"header": "Bearer tok-12345"}}},
                        "output": ["tok-12345", 3, None, True]}]}
    assert scrub(journal, ("tok-12345",)) == {
        "experiment": {"configuration": {"api_token": "[redacted]", "lb_url": "https://127.0.0.1:8443"}},
        "run": [{"activity": {"provider": {"arguments": {"header": "Bearer [redacted]"}}},
                 "output": ["[redacted]", 3, None, True]}]}


def test_a_short_value_is_replaced_only_where_it_is_a_whole_string() -> None:
    assert scrub({"pin": "123", "note": "port 51234", "n": 123}, ("123",)) == \
        {"pin": "[redacted]", "note": "port 51234", "n": "[redacted]"}


def test_without_credentials_the_value_is_returned_as_it_is() -> None:
    journal = {"a": ["b"]}
    assert scrub(journal, ()) is journal
