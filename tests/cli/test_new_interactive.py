"""Without flags, tc new asks Copier's questions on a terminal (driven through a real pty)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.waits import SAFETY_NET

pexpect = pytest.importorskip("pexpect")


def test_new_prompts_on_a_terminal(tmp_path: Path) -> None:
    tc = shutil.which("tc", path=str(Path(sys.executable).parent))
    assert tc, "tc console script not installed next to the test interpreter"
    dest = tmp_path / "asked"
    env = {**os.environ, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    child = pexpect.spawn(tc, ["new", str(dest), "--no-git"], env=env, encoding="utf-8",
                          timeout=SAFETY_NET, dimensions=(40, 200))  # each expect: a net
    child.expect("Training code to start from")
    child.send("\x1b[B")  # arrow down: detection
    child.send("\r")
    child.expect("Provider folder")
    child.send("\x15")  # Ctrl-U clears the pre-filled default
    child.sendline("Acme")
    child.expect("Category folder")
    child.sendline("")  # default for detection: Detection
    child.expect("Architecture folder")
    child.sendline("")
    child.expect("Docker base image")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (dest / "templates/Acme/Detection/FasterRCNN/docker/train.py").is_file()
