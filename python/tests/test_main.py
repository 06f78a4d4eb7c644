"""``python -m snakepit_bridge`` by hand: a usage note on a terminal, adapters from the cwd."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src"))


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop("SNAKEPIT_FD", None)
    return env


def test_run_by_hand_on_a_terminal_explains_itself_instead_of_writing_frames(tmp_path):
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "snakepit_bridge", "--adapter", "mod:Class"],
            stdin=subprocess.DEVNULL,
            stdout=secondary,
            stderr=subprocess.PIPE,
            env=_env(),
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert done.returncode == 2
    note = done.stderr.decode()
    assert "--call TOOL" in note
    assert "snakepit call TOOL --adapter mod:Class" in note


def test_the_console_script_entry_imports_adapters_from_the_current_directory(tmp_path):
    (tmp_path / "here.py").write_text(
        textwrap.dedent(
            """
            from snakepit_bridge import BaseAdapter, tool

            class Here(BaseAdapter):
                @tool
                def where(self) -> str:
                    return "here"
            """
        )
    )
    # `-P` keeps the current directory off sys.path, as for an installed console script.
    script = "import sys; from snakepit_bridge.__main__ import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-P", "-c", script, "--adapter", "here:Here", "--call", "where"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '"here"'
