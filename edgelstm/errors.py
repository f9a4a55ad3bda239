"""Named errors for problems a user can fix. The CLI turns each into one line and a non-zero exit."""

from __future__ import annotations


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
