"""`check` reads each artifact once (issue 18): `open_artifact` parses and hashes the file, and the crash probe's
feeds, the ORT-format conversion (mobile) and onnx.reference (reference) reuse what it read."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import onnx
import pytest

from edgelstm import api
from edgelstm.artifact import child
from edgelstm.model_source import ModelSource
from tests.support import api as shared

watch = shared.watch


def test_one_check_parses_and_hashes_the_artifact_once(watch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint, held = watch
    model = ModelSource(str(checkpoint))
    exported = api.export(model, tmp_path / "onnx", api.ExportOptions(batches=(1,), steps=(5,)))
    artifact = exported.path.resolve()
    parsed: Counter[str] = Counter()
    hashed: Counter[str] = Counter()
    real_load, real_load_bytes, real_open = onnx.load, onnx.load_from_string, Path.open

    def counting_load(f: Any, *args: Any, **kwargs: Any) -> onnx.ModelProto:
        parsed[str(Path(f).resolve())] += 1
        return real_load(f, *args, **kwargs)

    def counting_load_bytes(data: bytes, *args: Any, **kwargs: Any) -> onnx.ModelProto:
        parsed["bytes"] += 1  # the session factory's read of the file for its ops
        return real_load_bytes(data, *args, **kwargs)

    def counting_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode == "rb" and self.resolve() == artifact:  # what file_sha256 does
            hashed[str(artifact)] += 1
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(onnx, "load", counting_load)
    monkeypatch.setattr(onnx, "load_from_string", counting_load_bytes)
    monkeypatch.setattr(Path, "open", counting_open)
    monkeypatch.setattr(child, "_VERDICTS", {})  # the crash probe runs, not a verdict cached by an earlier test
    monkeypatch.setattr(child, "_sha256", lambda data: pytest.fail("the crash probe hashed the file again"))

    options = api.CheckOptions(data=held, providers=("cpu", "mobile", "reference"), stress=False)
    verdict = api.check([exported.path], model, options)

    assert {c.provider for c in verdict.report.candidates if c.status == "run"} == {"cpu", "mobile", "reference"}
    assert parsed == {str(artifact): 1}, parsed
    assert hashed[str(artifact)] == 1, hashed
