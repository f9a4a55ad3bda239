"""Named errors for problems a user can fix. The CLI turns each into one line and a non-zero exit."""

from __future__ import annotations

import re


class EdgelstmError(Exception):
    """Base class: a problem with the user's input, described in one line."""


class ConfigError(EdgelstmError):
    """A model or export configuration is invalid or unsupported."""


class LoadError(EdgelstmError):
    """A model, checkpoint or weights file cannot be loaded."""


class UnsafePickleError(LoadError):
    """A file would need unpickling (arbitrary code execution) to load."""


class FixedTimeAxisError(LoadError):
    """A torch.export program was specialised to one sequence length."""


class InputShapeError(EdgelstmError):
    """Input tensors do not have the shape or dtype the model expects."""


class ExportError(EdgelstmError):
    """An export could not be produced, or the produced graph failed its checks."""


class OutputExistsError(EdgelstmError):
    """Refusing to overwrite an existing artifact without an explicit request."""


def first_line(exc: BaseException, limit: int = 300, *, last: bool = False, with_type: bool = False) -> str:
    """An exception as one line: its first non-empty line (or the last: runtimes put the cause at the end of a
    multi-line message), optionally after its type name; the type name alone when it has no message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = (lines[-1] if last else lines[0]) if lines else ""
    if with_type or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:limit]


# "[ONNXRuntimeError] : 1 : FAIL : Load model from x.onnx failed:" and a C++ source location with the function's
# signature ("/onnxruntime_src/....h:46 void f(...) "): ORT's wording, without what a user cannot act on.
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .*? failed:)?")
_ORT_SOURCE = re.compile(r"\S+\.(?:h|cc|cpp):\d+ .*?\) (?=\S)")


def ort_message(exc: BaseException) -> str:
    """ONNX Runtime's own first line of an error, without its status prefix and C++ source location."""
    text = _ORT_PREFIX.sub("", first_line(exc, limit=2000)).strip()
    return _ORT_SOURCE.sub("", text).strip()[:400] or type(exc).__name__


def describe_decode_error(exc: BaseException) -> str:
    """Why protobuf could not decode an ONNX file: its nesting limit said in words (If/Loop bodies nested about 30
    deep stop it), else the error's type."""
    if "MaxDepth" in str(exc) or "recursion" in str(exc).lower():
        return "subgraphs (If/Loop bodies) nested deeper than protobuf's decoding limit"
    return type(exc).__name__


def describe_os_error(exc: OSError) -> str:
    """An OSError in words a user acts on: what failed, on which path."""
    import errno

    reasons = {
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EISDIR: "is a directory, not a file",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
        errno.ENOENT: "no such file or directory",
        errno.EEXIST: "already exists",
        errno.E2BIG: "argument list too long",
    }
    reason = reasons.get(exc.errno or -1) or exc.strerror or first_line(exc)
    where = exc.filename if exc.filename is not None else ""
    return f"{where}: {reason}" if where else reason


class ModelTooLargeError(ConfigError):
    """A configuration asks for a model too large to build on this machine (checked before allocating it)."""


class UserCodeError(LoadError):
    """A user's factory module failed while importing, building or running; the message names where."""


class OutputPathError(EdgelstmError):
    """An output location cannot hold the artifacts: a file where a directory belongs, or not writable."""


class BundleError(EdgelstmError):
    """A bundle is incomplete, altered, or unsafe to unpack or to run."""


class TrainingDivergedError(EdgelstmError):
    """Training produced a non-finite loss or gradient; nothing trained from it is published."""


class ResumeStateError(EdgelstmError):
    """A saved run state (to resume from) is truncated, corrupt, or does not belong to this run."""


class LabelError(InputShapeError):
    """Labels given to the parity gate do not fit the model: out of its class range, not whole numbers, not numbers."""


class OutputCollisionError(OutputPathError):
    """A report path would overwrite an input of the same run (an artifact, the reference, the data) or a directory."""


class ResourceLimitError(ConfigError):
    """A requested size would need more memory than this machine has; refused before allocating it."""


class EdgelstmWarning(UserWarning):
    """Something a user must hear about but that does not stop the command; the CLI prints it as one `warning:` line."""


class RandomWeightsWarning(EdgelstmWarning):
    """A factory model was built without --weights: it runs with its random initial weights."""


class UnsupportedGraphError(EdgelstmError):
    """A graph cannot take a transformation (its opset, its ops); the message says why and what would work."""


class NotStreamableError(EdgelstmError):
    """A graph takes no state back in (a sequence-form graph, or a foreign graph whose state pairs were not given):
    it cannot be run chunk by chunk."""


class SessionPolicyError(ConfigError):
    """A session policy (threads and spinning per batch size, from a bench report or a manifest) is malformed."""


class GraphRuntimeError(LoadError):
    """ONNX Runtime refused to load or to run a graph the user handed over; the message names the file and carries
    ORT's own first line."""
