"""The one environment record every report carries."""

from __future__ import annotations

import onnxruntime as ort

from edgelstm.versions import environment_record


def test_record_names_packages_providers_and_machine() -> None:
    record = environment_record()
    assert record["onnxruntime"] == ort.__version__
    assert record["torch"].startswith("2.") and record["onnx"] != "not installed"
    assert "CPUExecutionProvider" in record["onnxruntime_available_providers"]
    assert int(record["cpu_count"]) >= 1 and record["machine"] and record["python"]
    assert all(isinstance(v, str) for v in record.values())  # JSON-stable: reports compare them as text
