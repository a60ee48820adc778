"""The Python examples in the README and in docs/ run and their assertions hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), start=1):
            found.append((f"{document.name}-{number}", match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_readme_has_examples() -> None:
    """The README shows runnable code, so the parametrised test below is not empty."""
    assert sum(1 for name, _ in EXAMPLES if name.startswith("README")) >= 3


@pytest.mark.parametrize(("name", "code"), EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_example_runs(name: str, code: str, tmp_path: Path) -> None:
    """Each example runs to completion in a fresh interpreter, assertions included."""
    script = tmp_path / f"{name}.py"
    script.write_text(code, encoding="utf-8")

    completed = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
