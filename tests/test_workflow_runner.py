"""The small GitHub Actions expression evaluator that the promote test runs ci.yml's steps with."""

from __future__ import annotations

import pytest

from tests.e2e.workflow import Contexts, evaluate, render

CTX = Contexts(
    github={"event_name": "pull_request", "base_ref": "main"},
    secrets={"AWS_ACCESS_KEY_ID": "key"},
    env={"HAS_REMOTE": "true"},
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("secrets.AWS_ACCESS_KEY_ID != ''", True),
        ("secrets.MISSING != ''", False),  # an absent secret or variable is empty
        ("env.HAS_REMOTE == 'true'", True),
        ("github.event_name == 'push' && env.HAS_REMOTE == 'true'", False),
        ("github.event_name == 'PULL_REQUEST'", True),  # string comparison ignores case
        ("!(github.event_name == 'push') || false", True),
        ("github.base_ref", "main"),
    ],
)
def test_expressions(expression: str, expected: object) -> None:
    assert evaluate(expression, CTX) == expected


def test_render_puts_values_and_booleans_into_strings() -> None:
    assert render("origin/${{ github.base_ref }} ${{ vars.X != '' }}", CTX) == "origin/main false"


@pytest.mark.parametrize("expression", ["contains(github.ref, 'main')", "github.sha", "github.event_name =="])
def test_what_it_does_not_understand_fails_loudly(expression: str) -> None:
    with pytest.raises(pytest.fail.Exception):
        evaluate(expression, CTX)
