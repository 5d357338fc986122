"""A feature whose extra is missing names the extra to install (chamberlain.extras); the fresh install
without extras is tested in tests/docs/test_getting_started.py."""

from __future__ import annotations

import pytest

from chamberlain.errors import Error
from chamberlain.extras import MissingExtra, explain, needs


def test_a_missing_module_of_the_extra_names_the_extra() -> None:
    with pytest.raises(MissingExtra) as caught, needs("server", "chamberlain serve"):
        raise ModuleNotFoundError("No module named 'uvicorn.config'", name="uvicorn.config")
    assert str(caught.value) == (
        "chamberlain serve needs the 'server' extra (uvicorn.config is not installed): "
        "pip install 'chamberlain[server]'"
    )
    assert isinstance(caught.value, Error) and isinstance(caught.value, ImportError)


def test_any_other_missing_module_is_a_bug_and_propagates() -> None:
    with pytest.raises(ModuleNotFoundError) as caught, needs("server", "chamberlain serve"):
        raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")  # postgres's, not the server's
    assert not isinstance(caught.value, MissingExtra)


def test_the_outer_feature_names_what_the_user_asked_for() -> None:
    with pytest.raises(MissingExtra) as caught, needs("server", "chamberlain serve"), needs("fastapi", "x"):
        raise ModuleNotFoundError("No module named 'starlette'", name="starlette")
    assert (caught.value.extra, str(caught.value).split(" needs")[0]) == ("server", "chamberlain serve")


def test_explain_finds_the_extra_of_a_module_or_none() -> None:
    found = explain(ModuleNotFoundError(name="psycopg.pq"), "chamberlain audit verify")
    assert found is not None and found.extra == "postgres"
    assert explain(ModuleNotFoundError(name="nonexistent"), "x") is None
