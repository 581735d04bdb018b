"""The tree reads as the pipeline: the import-linter contracts hold, the public API is small."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_go_down():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("import-linter is not installed (scripts/test.sh installs the dev extra)")
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "0 broken" in out.stdout


def test_the_package_exports_the_contract():
    import rag

    for name in ("answer", "retrieve", "build_index", "Answer", "Citation", "Hit"):
        assert name in rag.__all__ and hasattr(rag, name)


def test_declared_gradio_is_the_one_the_page_is_written_for():
    # was gradio>=5.0 while the page uses Gradio 6 APIs (api_visibility, launch(css=...))
    import inspect
    import re

    import gradio as gr

    project = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(r'"gradio>=\s*(\d+)', project)
    assert floor and int(floor.group(1)) >= 6
    assert "css" in inspect.signature(gr.Blocks.launch).parameters
