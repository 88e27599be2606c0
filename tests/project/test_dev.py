"""dev.py: a missing Chromium skips the browser tests locally but fails the run in CI."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.paths import ROOT_DIR

ROOT = ROOT_DIR


def load_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def dev_without_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    dev = load_dev()
    monkeypatch.setattr(dev, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)          # not root: no apt-get install
    monkeypatch.setattr(dev, "run", lambda *a, **k: pytest.fail("nothing may be installed or run"))
    return dev


def test_local_run_without_chromium_goes_on_with_a_note(dev_without_chromium: ModuleType,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert dev_without_chromium.ensure_chromium() is True
    out = capsys.readouterr().out
    assert "note: chromium is not installed" in out and "browser tests will be skipped" in out
    assert "apt-get install chromium" in out


def test_ci_without_chromium_fails_loudly(dev_without_chromium: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CI", "true")
    assert dev_without_chromium.ensure_chromium() is False
    err = capsys.readouterr().err
    assert err.startswith("error: chromium is not installed") and "CI must run the browser" in err
    calls: list[list[str]] = []
    monkeypatch.setattr(dev_without_chromium, "ensure_venv", lambda: None)
    monkeypatch.setattr(dev_without_chromium, "run", lambda cmd, **k: calls.append(cmd) or 0)
    assert dev_without_chromium.main(["test"]) == 1 and calls == []      # neither ruff nor pytest ran


def test_chromium_present_is_fine_everywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dev = load_dev()
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setattr(dev, "CHROMIUM", fake)
    monkeypatch.setattr(dev, "CJK_FONT", fake)
    monkeypatch.setenv("CI", "1")
    assert dev.ensure_chromium() is True


def test_missing_cjk_font_without_root_is_only_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    dev = load_dev()
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setattr(dev, "CHROMIUM", fake)
    monkeypatch.setattr(dev, "CJK_FONT", tmp_path / "no-font.ttc")
    monkeypatch.setattr(dev.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(dev, "run", lambda *a, **k: pytest.fail("nothing may be installed or run"))
    monkeypatch.setenv("CI", "1")
    assert dev.ensure_chromium() is True
    assert "fonts-wqy-microhei missing" in capsys.readouterr().out
    assert "dev_under_test" not in sys.modules
