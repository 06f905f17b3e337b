"""A token typed on the command line is visible to every user of the machine (ps, /proc):
the commands that take one say so, and name the environment variable that keeps it private."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app

TOKEN = "a-token-long-enough-0123456789"
PARTY = ("party", "--coordinator", "127.0.0.1:1", "--name", "x", "--insecure")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("args", "env", "flag"),
    [
        ((*PARTY, "--app", "no_such_module:client_fn"), "RENGO_TOKEN", "--token"),
        (("vfl", "party", "--coordinator", "127.0.0.1:1", "--name", "x"), "RENGO_TOKEN", "--token"),
        (("ui", "--store", "no-such-store.db"), "RENGO_UI_TOKEN", "--token"),
        (
            ("coordinator", "--job", "no-such-job.toml", "--insecure"),
            "RENGO_UI_TOKEN",
            "--ui-token",
        ),
    ],
)
def test_a_token_on_the_command_line_is_warned_about_and_one_in_the_environment_is_not(
    args: tuple[str, ...], env: str, flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(env, raising=False)
    typed = CliRunner().invoke(app, [*args, flag, TOKEN])
    said = _flat(typed.output)
    assert f"warning: {flag} on the command line can be read by every user" in said, said
    assert f"pass it in ${env} instead" in said and TOKEN not in said
    hidden = CliRunner().invoke(app, list(args), env={env: TOKEN})
    assert "on the command line" not in hidden.output
    assert typed.exit_code == hidden.exit_code != 0  # both fail alike, further on
