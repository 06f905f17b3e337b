"""A token typed on the command line is visible to every user of the machine (ps, /proc):
the commands that take one say so, and name the environment variable that keeps it private;
a tokens file others may read is named with the command that makes it its owner's only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.deploy import read_tokens
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


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_tokens_file_others_can_read_is_named_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('bank = "a-token-long-enough-0123"\n')
    tokens.chmod(0o600)
    assert read_tokens(tokens) == {"bank": "a-token-long-enough-0123"}
    assert capsys.readouterr().err == ""
    tokens.chmod(0o644)
    assert read_tokens(tokens) == {"bank": "a-token-long-enough-0123"}
    said = " ".join(capsys.readouterr().err.split())
    assert f"warning: the tokens file {tokens} can be read by other users" in said
    assert f"chmod 600 {tokens}" in said and "a-token-long-enough" not in said
