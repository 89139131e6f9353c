from __future__ import annotations

from pathlib import Path

import pytest

from cli.common import default_config_path
from conf.load import load_config
from supervision import tree
from supervision.composition import Center
from supervision.service import load_entry
from supervision.spec import SpecError


def test_default_tree_follows_the_composition_root(tmp_path: Path) -> None:
    config = load_config(default_config_path())
    spec = tree.default_tree(config, tmp_path)
    plans = Center(config, tmp_path).plans
    assert [c.id for c in spec.children] == [p.id for p in plans]
    assert [c.start for c in spec.children] == [p.start for p in plans]
    assert spec.children[0].id == "core"  # everything registers with it: it starts first
    assert spec.strategy == "one_for_one"  # a crash must not take the SIP calls with it
    assert spec.intensity == config.supervision.intensity
    assert spec.backoff_initial_s == config.supervision.backoff_s
    for child in spec.children:
        assert callable(load_entry(child.start))


def test_default_tree_refuses_missing_start_modules(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tree, "_module_exists", lambda name: name != "bus.core_service")
    with pytest.raises(SpecError, match="start modules not found: bus.core_service:main"):
        tree.default_tree(load_config(default_config_path()), tmp_path)
