"""The TypeScript trainer's run folder (run-folder.ts, checkpoint.ts, model/weights-io.ts):
checkpoints/step-NNNNNN/{model.json, model.bin, optimizer.json, optimizer.bin, state.json} in the
TensorFlow.js weights format (a JSON manifest of names, shapes and dtypes, one little-endian float32
shard), checkpoints/latest.json, written through temporary names and renamed."""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .errors import BridgeError


def _temp_path_for(target: str) -> str:
    """The temp name that becomes `target` by a rename, as @sentseg/common's tempPathFor: hidden, in the same folder, with the pid."""
    return os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.tmp")


def _write_atomic(file: str, data: bytes) -> None:
    tmp = _temp_path_for(file)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, file)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_weights(folder: str, stem: str, tensors: Dict[str, np.ndarray], topology: object, metadata: Optional[Dict[str, object]] = None) -> None:
    """Writes <folder>/<stem>.json and <stem>.bin as weights-io.ts saveWeights does."""
    specs: List[Dict[str, object]] = []
    chunks: List[bytes] = []
    for name, value in tensors.items():
        arr = np.array(value, dtype="<f4", order="C")  # (ascontiguousarray would make a scalar 1-d)
        specs.append({"name": name, "shape": list(arr.shape), "dtype": "float32"})
        chunks.append(arr.tobytes())
    _write_atomic(os.path.join(folder, f"{stem}.bin"), b"".join(chunks))
    doc: Dict[str, object] = {
        "format": "sentseg",
        "generatedBy": "sentseg-torch",
        "modelTopology": topology,
        "weightsManifest": [{"paths": [f"{stem}.bin"], "weights": specs}],
    }
    if metadata is not None:
        doc["userDefinedMetadata"] = metadata
    _write_atomic(os.path.join(folder, f"{stem}.json"), json.dumps(doc, indent=1).encode("utf-8"))


def load_weights(folder: str, stem: str) -> Tuple[Dict[str, object], Dict[str, np.ndarray]]:
    json_path = os.path.join(folder, f"{stem}.json")
    try:
        with open(json_path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as err:
        raise BridgeError(f"cannot read weights manifest {json_path}: {err}") from err
    tensors: Dict[str, np.ndarray] = {}
    for group in doc["weightsManifest"]:
        data = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        expected = sum(int(np.prod(w["shape"])) * 4 for w in group["weights"])
        if len(data) != expected:
            raise BridgeError(f"weights shard {', '.join(group['paths'])} in {folder} holds {len(data)} bytes, its manifest says {expected}")
        offset = 0
        for w in group["weights"]:
            if w.get("dtype", "float32") != "float32":
                raise BridgeError(f"weight {w['name']} in {json_path} is {w['dtype']}; sentseg checkpoints hold float32")
            size = int(np.prod(w["shape"]))
            tensors[w["name"]] = np.frombuffer(data, dtype="<f4", count=size, offset=offset).reshape(w["shape"]).copy()
            offset += size * 4
    return doc, tensors


def checkpoints_dir(run: str) -> str:
    return os.path.join(run, "checkpoints")


def step_dir(run: str, step: int) -> str:
    return os.path.join(checkpoints_dir(run), f"step-{step:06d}")


def save_checkpoint(run: str, model_config: Dict[str, object], weights: Dict[str, np.ndarray], optimizer_config: Dict[str, object], optimizer_step: int, slots: Dict[str, np.ndarray], state: Dict[str, object], keep: int) -> str:
    folder = step_dir(run, int(state["step"]))  # type: ignore[arg-type]
    tmp = _temp_path_for(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        save_weights(tmp, "model", weights, {"architecture": "segformer", "config": model_config}, {"labels": state["labels"], "encoderId": state["encoderId"], "labelText": state["labelText"]})
        save_weights(tmp, "optimizer", slots, {"optimizer": optimizer_config, "step": optimizer_step})
        with open(os.path.join(tmp, "state.json"), "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2)
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    latest = os.path.join(checkpoints_dir(run), "latest.json")
    _write_atomic(latest, json.dumps({"step": state["step"], "dir": os.path.basename(folder)}, indent=2).encode("utf-8"))
    kept = sorted(n for n in os.listdir(checkpoints_dir(run)) if re.fullmatch(r"step-\d+", n))
    for old in kept[: max(0, len(kept) - keep)]:
        shutil.rmtree(os.path.join(checkpoints_dir(run), old), ignore_errors=True)
    return folder


def resolve_checkpoint(run_or_checkpoint: str) -> str:
    if os.path.exists(os.path.join(run_or_checkpoint, "state.json")):
        return run_or_checkpoint
    latest = os.path.join(checkpoints_dir(run_or_checkpoint), "latest.json")
    if not os.path.exists(latest):
        raise BridgeError(f"no checkpoint in {run_or_checkpoint} (no checkpoints/latest.json and no state.json)")
    with open(latest, encoding="utf-8") as f:
        return os.path.join(checkpoints_dir(run_or_checkpoint), json.load(f)["dir"])


@dataclass
class LoadedCheckpoint:
    dir: str
    state: Dict[str, object]
    model_config: Dict[str, object]
    weights: Dict[str, np.ndarray]
    optimizer_config: Dict[str, object]
    optimizer_step: int
    slots: Dict[str, np.ndarray]


def load_checkpoint(run_or_checkpoint: str) -> LoadedCheckpoint:
    folder = resolve_checkpoint(run_or_checkpoint)
    try:
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
            state = json.load(f)
        model_doc, weights = load_weights(folder, "model")
        opt_doc, slots = load_weights(folder, "optimizer")
    except (OSError, ValueError, KeyError) as err:
        raise BridgeError(f"unreadable checkpoint {folder}: {err}") from err
    mt = model_doc["modelTopology"]  # type: ignore[index]
    ot = opt_doc["modelTopology"]  # type: ignore[index]
    return LoadedCheckpoint(folder, state, mt["config"], weights, ot["optimizer"], int(ot["step"]), slots)  # type: ignore[index]
