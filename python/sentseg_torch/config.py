"""The run settings, the same keys and defaults as the TypeScript trainer's TrainConfig (config.ts),
so that a run folder's config.json reads the same in both trainers."""
from __future__ import annotations

import copy
import json
import os
import re
from typing import Dict, List

from .errors import BridgeError
from .model import VARIANTS

DEFAULT_CONFIG: Dict[str, object] = {
    "seed": 1,
    "manifest": "manifest.sqlite",
    "labelBank": "label-bank.sqlite",
    "encoder": None,
    "labelText": "sentence",
    "backend": "auto",
    "steps": 1000,
    "checkpointEvery": 100,
    "keepCheckpoints": 3,
    # recompute and threads: the TypeScript trainer's memory and thread settings; no effect here (DDP spreads the work)
    "model": {"variant": "tiny", "recompute": "auto", "threads": "auto"},
    "data": {
        "datasets": None, "splits": ["train", "training"], "batchSize": 4, "shortEdge": 1080, "crop": 640,
        "flip": True, "colorJitter": 0.2, "blurProbability": 0.2, "noiseStd": 3, "workers": 1, "prefetch": 2,
    },
    "optimizer": {
        "kind": "adamw", "lr": 6e-5, "weightDecay": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8,
        "momentum": 0.9, "polyPower": 1, "warmupSteps": 0, "warmupRatio": 1e-6,
    },
    "losses": {"ldDropFraction": 0.3, "byDataset": {}, "resolution": "output", "wdMinVisible": 0.5},
    "clipVision": None,
    "boxCache": None,
}
RECOMPUTE_SETTINGS = ("auto", "off", "encoder", "on")
# Keys that take a word or a number (model.threads: "auto", 1 or 2).
EITHER_KEYS = ("model.threads",)
PATH_KEYS = ("manifest", "labelBank", "clipVision", "boxCache")
HUB_ID = re.compile(r"^([A-Za-z0-9][\w.-]*)/([A-Za-z0-9][\w.-]*)(?:@([\w.][\w./-]*))?$")


def is_hub_id(value: str, base: str) -> bool:
    """ORG/NAME[@REVISION] that names no existing path (label-bank's hubIdOf): kept as given, never made absolute."""
    if re.match(r"^[.~/]", value) or "\\" in value or os.path.exists(os.path.join(base, value)):
        return False
    return HUB_ID.match(value) is not None


def _merge(base: Dict[str, object], patch: Dict[str, object], where: str, prefix: str = "") -> None:
    for key, value in patch.items():
        dotted = prefix + key
        if key not in base:
            raise BridgeError(f'unknown config key "{dotted}" in {where} (known here: {", ".join(prefix + k for k in base)})')
        current = base[key]
        if dotted == "losses.byDataset":
            if not isinstance(value, dict):
                raise BridgeError(f'config key "{dotted}" in {where} must be an object of name: value')
            current.update(value)  # type: ignore[union-attr]
        elif isinstance(current, dict):
            if not isinstance(value, dict):
                raise BridgeError(f'config key "{dotted}" in {where} must be an object')
            _merge(current, value, where, dotted + ".")
        elif dotted in EITHER_KEYS:
            # "auto" or a number: validate() checks the value itself.
            base[key] = value
            continue
        else:
            ok = current is None or value is None and current is None or type(value) is type(current) or (isinstance(current, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise BridgeError(f'config key "{dotted}" in {where} must be {type(current).__name__}, got {json.dumps(value)}')
            base[key] = value


def parse_override(text: str) -> Dict[str, object]:
    """key.path=value; the value is JSON where it parses as JSON, else a string."""
    if "=" not in text or text.index("=") == 0:
        raise BridgeError(f'override "{text}" is not key=value')
    key, raw = text.split("=", 1)
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    keys = key.strip().split(".")
    obj: Dict[str, object] = {keys[-1]: value}
    for k in reversed(keys[:-1]):
        obj = {k: obj}
    return obj


def resolve_config(layers: List[Dict[str, object]], wheres: List[str]) -> Dict[str, object]:
    config = copy.deepcopy(DEFAULT_CONFIG)
    for layer, where in zip(layers, wheres):
        _merge(config, layer, where)
    validate(config)
    return config


def validate(c: Dict[str, object]) -> None:
    data = c["data"]  # type: ignore[assignment]
    opt = c["optimizer"]  # type: ignore[assignment]
    for key, v in (("steps", c["steps"]), ("checkpointEvery", c["checkpointEvery"]), ("keepCheckpoints", c["keepCheckpoints"]), ("data.batchSize", data["batchSize"]), ("data.shortEdge", data["shortEdge"]), ("data.crop", data["crop"])):  # type: ignore[index]
        if not isinstance(v, int) or v <= 0:
            raise BridgeError(f"{key} must be a positive integer, got {v}")
    if data["crop"] % 32 != 0:  # type: ignore[index]
        raise BridgeError(f"data.crop must be a multiple of 32, got {data['crop']}")  # type: ignore[index]
    if c["model"]["variant"] not in VARIANTS:  # type: ignore[index]
        raise BridgeError(f'model.variant "{c["model"]["variant"]}" is not one of {", ".join(VARIANTS)}')  # type: ignore[index]
    if c["model"]["recompute"] not in RECOMPUTE_SETTINGS:  # type: ignore[index]
        raise BridgeError(f'model.recompute must be {", ".join(RECOMPUTE_SETTINGS)}, got {json.dumps(c["model"]["recompute"])}')  # type: ignore[index]
    if c["model"]["threads"] not in ("auto", 1, 2) or isinstance(c["model"]["threads"], bool):  # type: ignore[index]
        raise BridgeError(f'model.threads must be auto, 1 or 2, got {json.dumps(c["model"]["threads"])}')  # type: ignore[index]
    if opt["kind"] not in ("adamw", "sgd"):  # type: ignore[index]
        raise BridgeError(f"optimizer.kind must be adamw or sgd, got {opt['kind']}")  # type: ignore[index]
    if c["labelText"] not in ("sentence", "word"):
        raise BridgeError(f"labelText must be sentence or word, got {c['labelText']}")
    if not (0 <= float(c["losses"]["ldDropFraction"]) < 1):  # type: ignore[index]
        raise BridgeError("losses.ldDropFraction must be in [0, 1)")
    resolution = c["losses"]["resolution"]  # type: ignore[index]
    if resolution not in ("output", "label"):
        raise BridgeError(f"losses.resolution must be output or label, got {json.dumps(resolution)}")
    if resolution == "label":
        raise BridgeError("losses.resolution=label is trained by the TypeScript trainer only; the bridge computes L_HD and L_LD at the output's resolution (set losses.resolution=output)")
    if not (0 <= float(c["losses"]["wdMinVisible"]) <= 1):  # type: ignore[index]
        raise BridgeError("losses.wdMinVisible must be in [0, 1]")


def with_absolute_paths(config: Dict[str, object], base: str) -> Dict[str, object]:
    out = copy.deepcopy(config)
    for key in PATH_KEYS:
        if out[key] is not None and not (key == "clipVision" and is_hub_id(str(out[key]), base)):
            out[key] = os.path.abspath(os.path.join(base, str(out[key])))
    return out
