"""Run a job of `.github/workflows/ci.yml` locally, step by step, as GitHub Actions runs it.

The steps are read from the workflow file: each `run:` script runs in bash with
`-eo pipefail` (GitHub's default shell), with the workflow's, the job's and the step's `env:`,
and only when its `if:` holds. `uses:` steps (checkout, Python, artifact upload) are the test's
business. Expressions are evaluated from the contexts given (`github`, `secrets`, `vars`,
`env`); an expression this small evaluator does not understand fails the test, so a workflow
change is noticed rather than skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import VENV_BIN

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TOKEN = re.compile(r"\s*('(?:[^']|'')*'|&&|\|\||==|!=|\(|\)|!|[A-Za-z_][\w.-]*)")


@dataclass
class StepResult:
    name: str
    script: str
    returncode: int
    output: str  # stdout and stderr


@dataclass
class Contexts:
    """What `${{ }}` expressions can read: `github.*`, `secrets.*`, `vars.*` (absent: empty) and `env.*`."""

    github: dict[str, str]
    secrets: dict[str, str] = field(default_factory=dict)
    vars: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def lookup(self, ref: str) -> str:
        scope, _, key = ref.partition(".")
        if scope in ("secrets", "vars", "env"):
            found: str = getattr(self, scope).get(key, "")
            return found
        if scope == "github" and key in self.github:
            return self.github[key]
        pytest.fail(f"ci.yml reads ${{{{ {ref} }}}}: the workflow runner of this test does not provide it")


def evaluate(expression: str, ctx: Contexts) -> Any:
    """A GitHub expression with literals, context references, `!`, `==`, `!=`, `&&`, `||`, parentheses."""
    tokens = TOKEN.findall(expression)
    if "".join(tokens).replace(" ", "") != expression.replace(" ", ""):
        pytest.fail(f"ci.yml expression not understood by this test's runner: {expression!r}")
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            pytest.fail(f"ci.yml expression not understood by this test's runner: {expression!r}")
        pos += 1
        return tokens[pos - 1]

    def operand() -> Any:
        token = take()
        if token == "(":
            value = either()
            take()
            return value
        if token == "!":
            return not truthy(operand())
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token in ("true", "false"):
            return token == "true"
        return ctx.lookup(token)

    def comparison() -> Any:
        left = operand()
        while peek() in ("==", "!="):
            op, right = take(), operand()
            left = (str(left).lower() == str(right).lower()) == (op == "==")
        return left

    def both() -> Any:
        left = comparison()
        while peek() == "&&":
            take()
            right = comparison()
            left = right if truthy(left) else left
        return left

    def either() -> Any:
        left = both()
        while peek() == "||":
            take()
            right = both()
            left = left if truthy(left) else right
        return left

    value = either()
    if pos != len(tokens):
        pytest.fail(f"ci.yml expression not understood by this test's runner: {expression!r}")
    return value


def truthy(value: Any) -> bool:
    return value not in ("", False, None, 0)


def render(text: Any, ctx: Contexts) -> str:
    """A string with its `${{ }}` expressions replaced (booleans as `true`/`false`)."""

    def one(match: re.Match[str]) -> str:
        value = evaluate(match.group(1), ctx)
        return str(value).lower() if isinstance(value, bool) else str(value)

    return EXPRESSION.sub(one, str(text))


def job(workflow: Path, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow's top-level `env:` and the job `name`, as parsed from the file."""
    parsed = yaml.safe_load(workflow.read_text(encoding="utf-8"))
    return parsed.get("env") or {}, parsed["jobs"][name]


def run_job(
    workflow: Path, name: str, checkout: Path, ctx: Contexts, base_env: Mapping[str, str], *, summary: Path
) -> list[StepResult]:
    """Run job `name`'s `run:` steps in `checkout`; stops at the first failing step (as Actions does)."""
    top_env, spec = job(workflow, name)
    env = dict(base_env)
    env["GITHUB_STEP_SUMMARY"] = str(summary)
    for scope in (top_env, spec.get("env") or {}):
        for key, value in scope.items():
            env[key] = render(value, Contexts(ctx.github, ctx.secrets, ctx.vars, env))
    results = []
    for step in spec["steps"]:
        step_ctx = Contexts(ctx.github, ctx.secrets, ctx.vars, env)
        if "run" not in step:
            continue
        condition = step.get("if")
        if condition is not None and not truthy(evaluate(EXPRESSION.sub(r"\1", str(condition)), step_ctx)):
            continue
        step_env = dict(env)
        step_env.update({key: render(value, step_ctx) for key, value in (step.get("env") or {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=checkout,
            env=step_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        output = done.stdout + done.stderr
        results.append(StepResult(step.get("name", step["run"]), step["run"], done.returncode, output))
        if done.returncode != 0:
            break
    return results


def runner_checkout(checkout: Path) -> None:
    """Make `checkout` look set up to the Makefile: `.venv` is this test environment, already synced.

    `.venv` is a folder of links to this environment's parts plus its own `.synced` stamp, so
    `make setup` finds it up to date and never syncs (it would install the checkout into the
    shared environment).
    """
    venv = checkout / ".venv"
    venv.mkdir()
    for part in VENV_BIN.parent.iterdir():
        if part.name != ".synced":
            (venv / part.name).symlink_to(part)
    (venv / ".synced").touch()


def uv_path() -> str:
    """The folder of the `uv` that the Makefile calls (the runner installs it with `make setup`)."""
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.fail("uv is not installed: the Makefile's targets need it (`make setup` installs it)")
    return str(Path(found).parent)
