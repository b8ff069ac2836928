"""The conformance runner's command line: one line per file, the total last,
a non-zero exit when any case fails or a file has no handler."""

from __future__ import annotations

from pathlib import Path

import pytest

from tentenone.dlc.conformance.__main__ import main

RUNS = Path(__file__).resolve().parents[5] / "shared" / "vectors" / "dlcspecs" / "test_vectors"


def test_a_vector_run_passes(capsys: pytest.CaptureFixture[str]) -> None:
    path = RUNS / "enum_single_oracle_test.json"
    assert main([str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"PASS {path}: 3 passed, 0 failed", "3 passed, 0 failed"]


def test_a_corrupted_vector_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (RUNS / "enum_single_oracle_test.json").read_text()
    sigs_start = text.index('"cetAdaptorSignatures"')
    broken = text[:sigs_start] + text[sigs_start:].replace("03", "02", 1)
    runs = tmp_path / "test_vectors"
    runs.mkdir()
    target = runs / "broken_test.json"
    target.write_text(broken)
    assert main([str(target)]) == 1
    out = capsys.readouterr().out
    # the accept no longer matches its JSON, and the sign has no valid accept
    assert out.splitlines()[-1] == "1 passed, 2 failed"
    assert "broken_test/accept_message: " in out


def test_a_file_without_handler_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = tmp_path / "mystery.json"
    unknown.write_text("{}")
    assert main([str(unknown)]) == 1
    assert "no handler run_mystery" in capsys.readouterr().out
