"""Helpers and fixtures shared by tests/unit/test_state_exposure.py and tests/e2e/test_state_exposure_cli.py (split from tests/test_state_exposure.py)."""

from __future__ import annotations

FEATURES, HIDDEN, CLASSES = 4, 8, 3
