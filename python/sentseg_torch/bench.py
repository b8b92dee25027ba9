"""Step time of the PyTorch bridge on a manifest and label bank, for `npm run bench` to print beside
the TypeScript trainer's (same model, crop and batch; loading included in both, as each trainer's
metrics.jsonl times its steps). Prints one JSON line per process count.

  python3 -m sentseg_torch.bench --manifest M --label-bank B [--variant tiny --crop 256 --batch 4 --steps 4 --nproc 1,2]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from typing import List, Optional

import torch

from .train import main as train_main


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m sentseg_torch.bench")
    p.add_argument("--manifest", required=True)
    p.add_argument("--label-bank", required=True)
    p.add_argument("--variant", default="tiny")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--nproc", default="1,2")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = p.parse_args(argv)
    for nproc in [int(x) for x in a.nproc.split(",")]:
        folder = tempfile.mkdtemp(prefix="sentseg-torch-bench-")
        try:
            run = os.path.join(folder, "run")
            code = train_main([
                "--manifest", a.manifest, "--label-bank", a.label_bank, "--out", run, "--steps", str(a.steps), "--nproc", str(nproc), "--device", a.device,
                "--set", f"model.variant={json.dumps(a.variant)}", "--set", f"data.batchSize={a.batch}", "--set", f"data.shortEdge={a.crop}", "--set", f"data.crop={a.crop}", "--set", "checkpointEvery=1000",
            ])
            if code != 0:
                print(json.dumps({"nproc": nproc, "error": f"exit {code}"}))
                continue
            with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as f:
                lines = [json.loads(ln) for ln in f if ln.strip()]
            timed = [m["stepSeconds"] for m in lines[1:]]
            median = statistics.median(timed) if timed else lines[0]["stepSeconds"]
            print(json.dumps({"nproc": nproc, "device": a.device, "torch": torch.__version__, "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or max(1, (os.cpu_count() or 1) // nproc), "first": lines[0]["stepSeconds"], "median": median, "steps": len(timed), "imagesPerSec": a.batch / median}), flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
