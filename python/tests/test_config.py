"""The run settings read the TypeScript trainer's config.json: every key it writes, with the same defaults."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sentseg_torch.config import DEFAULT_CONFIG, resolve_config, with_absolute_paths
from sentseg_torch.errors import BridgeError

REPO = Path(__file__).resolve().parents[2]


def _ts_defaults(section: str) -> dict:
    """One section of DEFAULT_CONFIG as config.ts spells it (read from the source, not from this package):
    `section: { key: 'text' | number | {}, ... }` on one line."""
    text = (REPO / "packages" / "trainer" / "src" / "config.ts").read_text()
    m = re.search(r"\n  " + section + r": \{((?:[^{}]|\{\})*)\},\n", text)
    assert m, f"config.ts has no one-line {section} defaults"
    pairs = re.findall(r"(\w+): ('[^']*'|[\d.]+|\{\})", m.group(1))
    assert pairs, f"config.ts's {section} defaults hold no key: value"
    return {k: ({} if v == "{}" else v.strip("'") if v.startswith("'") else float(v)) for k, v in pairs}


def test_losses_keys_and_defaults_match_the_typescript_trainer() -> None:
    ts = _ts_defaults("losses")
    ours = DEFAULT_CONFIG["losses"]
    assert set(ts) == set(ours)  # type: ignore[arg-type]
    for key, value in ts.items():
        assert ours[key] == value, key  # type: ignore[index]


def test_model_keys_and_defaults_match_the_typescript_trainer() -> None:
    ts = _ts_defaults("model")
    assert "recompute" in ts and "threads" in ts
    assert ts == DEFAULT_CONFIG["model"]


def test_a_typescript_config_json_with_model_recompute_resolves() -> None:
    written = {"seed": 1, "steps": 10, "model": {"variant": "tiny", "recompute": "off"}, "losses": {"resolution": "output"}}
    config = resolve_config([json.loads(json.dumps(written))], ["runs/x/config.json"])
    assert config["model"] == {"variant": "tiny", "recompute": "off", "threads": "auto"}
    with pytest.raises(BridgeError, match=r'model.recompute must be auto, off, encoder, on, got "sometimes"'):
        resolve_config([{"model": {"recompute": "sometimes"}}], ["runs/x/config.json"])


def test_a_typescript_config_json_with_model_threads_resolves() -> None:
    config = resolve_config([{"model": {"variant": "b0", "threads": 2}}], ["runs/x/config.json"])
    assert config["model"] == {"variant": "b0", "recompute": "auto", "threads": 2}
    with pytest.raises(BridgeError, match=r"model.threads must be auto, 1 or 2, got 3"):
        resolve_config([{"model": {"threads": 3}}], ["runs/x/config.json"])
    assert resolve_config([{"model": {"threads": "auto"}}], ["runs/x/config.json"])["model"]["threads"] == "auto"  # type: ignore[index]
    with pytest.raises(BridgeError, match=r'model.threads must be auto, 1 or 2, got "many"'):
        resolve_config([{"model": {"threads": "many"}}], ["runs/x/config.json"])


def test_a_typescript_config_with_label_resolution_is_refused_with_the_reason() -> None:
    with pytest.raises(BridgeError, match="losses.resolution=label is trained by the TypeScript trainer only"):
        resolve_config([{"losses": {"resolution": "label"}}], ["config.json"])
    with pytest.raises(BridgeError, match="losses.resolution must be output or label"):
        resolve_config([{"losses": {"resolution": "pixels"}}], ["config.json"])
    with pytest.raises(BridgeError, match=r"losses.wdMinVisible must be in \[0, 1\]"):
        resolve_config([{"losses": {"wdMinVisible": 1.5}}], ["config.json"])


def test_a_hub_id_for_clip_vision_stays_a_hub_id(tmp_path: Path) -> None:
    config = resolve_config([{"clipVision": "openai/clip-vit-base-patch32@main"}], ["config.json"])
    assert with_absolute_paths(config, str(tmp_path))["clipVision"] == "openai/clip-vit-base-patch32@main"
    (tmp_path / "towers" / "vision").mkdir(parents=True)
    config = resolve_config([{"clipVision": "towers/vision"}], ["config.json"])
    assert with_absolute_paths(config, str(tmp_path))["clipVision"] == str(tmp_path / "towers" / "vision")
    assert json.loads(json.dumps(config))  # stays plain JSON
