"""python3 -m sentseg_torch.train: the TypeScript trainer's loop (train.ts) under PyTorch
DistributedDataParallel. Every rank draws the same global batch from the dataset-balanced sampler
and loads its shard (every world-th image); each loss averages over the count of the whole global
batch (all-reduced), so N processes take the same step as one process over the same batch. Rank 0
writes the run folder in the TypeScript format: `sentseg eval`, `predict` and `train --resume` read
it, and this command resumes runs the TypeScript trainer wrote."""
from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.distributed as dist

from .boxes import BoxTargets, box_cache_file, read_box_targets
from .checkpoint import load_checkpoint, save_checkpoint
from .config import DEFAULT_CONFIG, parse_override, resolve_config, with_absolute_paths
from .data import AugmentConfig, BalancedSampler, DatasetSpec, LoadedImage, downsample_target, image_seed, load_sample, shard
from .errors import BridgeError
from .losses import LOSS_NAMES, LOSSES_FOR, loss_hd, loss_ld, loss_wd
from .model import OUTPUT_STRIDE, SegFormer, segformer_config
from .optim import Optimizer, learning_rate
from .sqlite_files import Manifest, read_label_embeddings

RUN_ENTRIES = ("config.json", "metrics.jsonl", "checkpoints")


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def choose_losses(manifest: Manifest, config: Dict[str, object]) -> Tuple[List[Tuple[str, str, str, str]], Dict[str, str]]:
    """The trained datasets (name, annotation, encoding, split) and each one's loss (table.ts chooseLosses)."""
    all_ds = manifest.datasets()
    if not all_ds:
        raise BridgeError(f"manifest {manifest.file} holds no datasets")
    data = config["data"]  # type: ignore[assignment]
    names = data["datasets"] or [d.name for d in all_ds]  # type: ignore[index]
    by_dataset: Dict[str, str] = config["losses"]["byDataset"]  # type: ignore[index]
    chosen: List[Tuple[str, str, str, str]] = []
    loss_of: Dict[str, str] = {}
    for n in names:
        info = next((d for d in all_ds if d.name == n), None)
        if info is None:
            raise BridgeError(f'dataset "{n}" is not in {manifest.file} (has: {", ".join(d.name for d in all_ds)})')
        loss = by_dataset.get(n, info.loss)
        if loss not in LOSSES_FOR[info.annotation]:
            raise BridgeError(f"{manifest.file}: dataset {n} ({info.annotation}) cannot be trained with L_{loss.upper()}; choose {' or '.join(LOSSES_FOR[info.annotation])}")
        split = next((s for s in data["splits"] if s in info.splits), None)  # type: ignore[index]
        if split is None:
            raise BridgeError(f"dataset {n} has no training split named {' or '.join(data['splits'])} (it has: {', '.join(info.splits) or 'no images'}); set data.splits")  # type: ignore[index]
        chosen.append((n, info.annotation, info.encoding, split))
        loss_of[n] = loss
    return chosen, loss_of


def check_inputs(config: Dict[str, object]) -> None:
    """Opens the manifest and, when a dataset trains with L_WD, reads its box targets (BridgeError if not all there)."""
    manifest = Manifest(str(config["manifest"]))
    try:
        datasets, loss_of = choose_losses(manifest, config)
        box = [(n, s) for n, _, _, s in datasets if loss_of[n] == "wd"]
        if box:
            read_box_targets(manifest, config, [(n, i) for n, s in box for i in manifest.image_ids(n, s)], [n for n, _ in box])
    finally:
        manifest.close()


class Trainer:
    """One rank's training state: model (wrapped in DDP when world > 1), optimizer, data."""

    def __init__(self, config: Dict[str, object], run: str, rank: int, world: int, device: torch.device, resume: bool, dtype: torch.dtype = torch.float32) -> None:
        self.config = config
        self.run = run
        self.rank = rank
        self.world = world
        self.device = device
        self.dtype = dtype
        self.manifest = Manifest(str(config["manifest"]))
        datasets, self.loss_of = choose_losses(self.manifest, config)
        self.labels = read_label_embeddings(str(config["labelBank"]), self.manifest, str(config["labelText"]), config["encoder"])  # type: ignore[arg-type]
        ignore = self.manifest.ignore_index()
        self.specs = {n: DatasetSpec(n, a, e, self.manifest.lut(n, ignore), ignore) for n, a, e, _ in datasets}
        ids = [(n, self.manifest.image_ids(n, s)) for n, _, _, s in datasets]
        empty = [n for n, i in ids if not i]
        if empty:
            raise BridgeError(f"no training images in {', '.join(empty)}")
        # L_WD's targets: the TypeScript trainer's cache of CLIP box-crop embeddings (boxes.py).
        box_datasets = [n for n, _, _, _ in datasets if self.loss_of[n] == "wd"]
        self.box_targets: Optional[BoxTargets] = None
        if box_datasets:
            self.box_targets = read_box_targets(self.manifest, config, [(n, i) for n, image_ids in ids if n in box_datasets for i in image_ids], box_datasets)
            if rank == 0:
                _log(f"box embeddings ({self.box_targets.model_id}, {self.box_targets.dim}-d): {len(self.box_targets.vectors)} from {box_cache_file(config)}")
        data = config["data"]  # type: ignore[assignment]
        self.batch_size = int(data["batchSize"])  # type: ignore[index]
        if self.batch_size < world:
            raise BridgeError(f"data.batchSize {self.batch_size} is below the {world} processes: every process needs at least one image per step")
        self.sampler = BalancedSampler(ids, self.batch_size, int(config["seed"]))  # type: ignore[arg-type]
        self.augment = AugmentConfig.from_config(data)  # type: ignore[arg-type]
        self.model_config = segformer_config(str(config["model"]["variant"]), self.labels.dim, self.box_targets.dim if self.box_targets else None)  # type: ignore[index]
        self.model = SegFormer(self.model_config, int(config["seed"])).to(device, dtype)  # type: ignore[arg-type]
        self.optimizer = Optimizer(config["optimizer"])  # type: ignore[arg-type]
        self.start_step = 0
        if resume:
            ckpt = load_checkpoint(run)
            if int(ckpt.state["embedDim"]) != self.labels.dim:  # type: ignore[arg-type]
                raise BridgeError(f"checkpoint {ckpt.dir} was trained on {ckpt.state['embedDim']}-d label embeddings, the label bank gives {self.labels.dim}-d ones")
            if list(ckpt.state["labels"]) != self.labels.names:  # type: ignore[arg-type]
                raise BridgeError(f"checkpoint {ckpt.dir} was trained on another label set than {config['manifest']}")
            self.model.load_weights(ckpt.weights, ckpt.dir)
            self.optimizer.restore(ckpt.optimizer_step, ckpt.slots, device, dtype)
            self.start_step = int(ckpt.state["step"])  # type: ignore[arg-type]
            self.resumed_from = ckpt.dir
        self.label_emb = torch.from_numpy(self.labels.data).to(device, dtype)
        self.net: torch.nn.Module = self.model
        if world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)

    def load(self, step: int) -> Tuple[List[LoadedImage], List[str]]:
        items = shard(self.sampler.batch(step), self.rank, self.world)
        images: List[LoadedImage] = []
        failures: List[str] = []
        for it in items:
            try:
                images.append(load_sample(self.manifest, self.specs[it.dataset], it.image_id, it.slot, self.augment, image_seed(int(self.config["seed"]), step, it.slot), float(self.config["losses"]["wdMinVisible"])))  # type: ignore[arg-type, index]
            except (OSError, ValueError) as err:
                failures.append(f"skipped {it.dataset} image {it.image_id}: {err}")
        return images, failures

    def _all_sum(self, values: Sequence[float]) -> List[float]:
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def step(self, step: int, images: List[LoadedImage], failures: int) -> Dict[str, object]:
        """One training step over this rank's images; returns the metrics of the global batch."""
        crop = self.augment.crop
        order = {name: i for i, name in enumerate(LOSS_NAMES)}
        images = sorted(images, key=lambda im: order[self.loss_of[im.dataset]])
        k = int(self.label_emb.shape[0])
        n = len(images)
        targets = np.stack([downsample_target(im.target) for im in images]) if n else np.zeros((0, crop // OUTPUT_STRIDE, crop // OUTPUT_STRIDE), np.int32)
        slices: Dict[str, Tuple[int, int]] = {}
        for i, im in enumerate(images):
            loss = self.loss_of[im.dataset]
            start, count = slices.get(loss, (i, 0))
            slices[loss] = (start, count + 1)
        valid = {name: float(((targets[s:s + c] < k) & (targets[s:s + c] >= 0)).sum()) for name, (s, c) in slices.items()}
        # L_WD: the boxes of the wd slice on the 1/4-resolution map (images relative to the slice) and their CLIP targets.
        boxes: List[Tuple[int, float, float, float, float]] = []
        clip_rows: List[np.ndarray] = []
        if "wd" in slices and self.box_targets is not None:
            start = slices["wd"][0]
            for i, im in enumerate(images):
                for box_id, _, x0, y0, x1, y1 in (im.boxes if self.loss_of[im.dataset] == "wd" else []):
                    target = self.box_targets.vectors.get(box_id)
                    if target is None:  # a box of an image the cache could not read
                        continue
                    boxes.append((i - start, x0 / OUTPUT_STRIDE, y0 / OUTPUT_STRIDE, x1 / OUTPUT_STRIDE, y1 / OUTPUT_STRIDE))
                    clip_rows.append(target)
        cut = sum(im.boxes_cut for im in images)
        counts = self._all_sum([valid.get("hd", 0.0), valid.get("ld", 0.0), float(n), float(failures), float(len(boxes)), float(cut)])
        denominators = {"hd": counts[0], "ld": counts[1], "wd": counts[4]}
        lr = learning_rate(step, float(self.config["optimizer"]["lr"]), int(self.config["steps"]), float(self.config["optimizer"]["polyPower"]), int(self.config["optimizer"]["warmupSteps"]), float(self.config["optimizer"]["warmupRatio"]))  # type: ignore[index, arg-type]
        parts: Dict[str, torch.Tensor] = {}
        if counts[2] > 0:
            if n > 0:
                x = torch.from_numpy(np.stack([im.pixels for im in images])).to(self.device, self.dtype)
            else:  # every image of this shard failed: a zero-weighted pass keeps the ranks in step
                x = torch.zeros((1, crop, crop, 3), device=self.device, dtype=self.dtype)
            emb = self.net(x)
            t = torch.from_numpy(targets).to(self.device)
            log_tau = self.model.p("log_tau")
            total = emb.sum() * 0 + log_tau * 0
            if self.box_targets is not None:  # every parameter takes part on every rank (DDP)
                total = total + self.model.p("wd/w").sum() * 0 + self.model.p("wd/b").sum() * 0
            for name in LOSS_NAMES:
                if name not in slices:
                    continue
                s, c = slices[name]
                e, tt = emb[s:s + c], t[s:s + c]
                if name == "hd":
                    part = loss_hd(e, self.label_emb, tt, log_tau, denominators["hd"])
                elif name == "wd":
                    if denominators["wd"] == 0:  # no usable box in the global batch: no L_WD (table.ts)
                        continue
                    clip = torch.from_numpy(np.stack(clip_rows)).to(self.device, self.dtype) if clip_rows else torch.zeros((0, self.box_targets.dim), device=self.device, dtype=self.dtype)  # type: ignore[union-attr]
                    part = loss_wd(e, boxes, clip, self.model.p("wd/w"), self.model.p("wd/b"), denominators["wd"])
                else:
                    part = loss_ld(e, self.label_emb, tt, log_tau, float(self.config["losses"]["ldDropFraction"]), denominators["ld"])  # type: ignore[index]
                parts[name] = part
                total = total + part
            self.model.zero_grad(set_to_none=True)
            # DDP averages the ranks' gradients; each rank's loss is its share of the global sum.
            (total * self.world).backward()
            part_values = self._all_sum([float(parts[nm].detach()) if nm in parts else 0.0 for nm in LOSS_NAMES] + [1.0 if nm in parts else 0.0 for nm in LOSS_NAMES])
            loss_value = sum(part_values[:3])
            if not np.isfinite(loss_value):
                raise BridgeError(f"loss is {loss_value} at step {step + 1}; lower optimizer.lr")
            if self.box_targets is not None and denominators["wd"] == 0:
                # No L_WD in this step: its projection has no gradient, as in the TypeScript trainer
                # (the zero-weighted term above only keeps DDP's ranks in step).
                self.model.p("wd/w").grad = None
                self.model.p("wd/b").grad = None
            self.optimizer.apply(list((nm, self.model.p(nm)) for nm in self.model.names()), lr, SegFormer.decays)  # type: ignore[misc]
            present = {nm: part_values[3 + i] > 0 for i, nm in enumerate(LOSS_NAMES)}
            values: Dict[str, Optional[float]] = {nm: (part_values[i] if present[nm] else None) for i, nm in enumerate(LOSS_NAMES)}
        else:
            loss_value = 0.0
            values = {nm: None for nm in LOSS_NAMES}
        tau = float(torch.exp(self.model.p("log_tau").detach()).cpu())
        return {"step": step + 1, "loss": loss_value, "hd": values["hd"], "ld": values["ld"], "wd": values["wd"], "tau": tau, "lr": lr, "images": int(counts[2]), "skipped": int(counts[3]), "wdBoxes": int(counts[4]), "wdBoxesCut": int(counts[5])}

    def checkpoint_state(self, step: int) -> Dict[str, object]:
        return {"step": step, "seed": self.config["seed"], "labels": self.labels.names, "encoderId": self.labels.encoder_id, "labelText": self.config["labelText"], "embedDim": self.labels.dim, "savedAt": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}

    def save(self, step: int) -> str:
        return save_checkpoint(self.run, self.model_config, self.model.weights(), self.config["optimizer"], self.optimizer.step, self.optimizer.state(), self.checkpoint_state(step), int(self.config["keepCheckpoints"]))  # type: ignore[arg-type]


def _truncate_metrics(file: str, up_to: int) -> None:
    if not os.path.exists(file):
        return
    with open(file, encoding="utf-8") as f:
        lines = [ln for ln in f.read().split("\n") if ln.strip() and json.loads(ln)["step"] <= up_to]
    with open(file, "w", encoding="utf-8") as f:
        f.write("".join(ln + "\n" for ln in lines))


def run_rank(rank: int, world: int, config: Dict[str, object], run: str, resume: bool, device_kind: str, dump_dir: Optional[str] = None, dtype: torch.dtype = torch.float32) -> List[Dict[str, object]]:
    """Trains on one rank (joins the process group when world > 1); returns rank 0's metrics.
    dump_dir: every rank writes its final weights there as rank-N.npz, in the training dtype (the DDP
    tests); dtype: float64 only for those tests (checkpoints hold float32)."""
    if device_kind == "cuda":
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
        # Processes on one machine share its cores (torchrun users may set OMP_NUM_THREADS instead).
        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world)))))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world)
    torch.manual_seed(int(config["seed"]))  # type: ignore[arg-type]
    trainer = Trainer(config, run, rank, world, device, resume, dtype)
    metrics_file = os.path.join(run, "metrics.jsonl")
    out: List[Dict[str, object]] = []
    try:
        if rank == 0:
            if resume:
                _truncate_metrics(metrics_file, trainer.start_step)
                _log(f"resumed from {trainer.resumed_from} at step {trainer.start_step}")
            else:
                open(metrics_file, "w").close()
            with open(os.path.join(run, "config.json"), "w", encoding="utf-8") as f:
                f.write(json.dumps(config, indent=2) + "\n")
            _log(f"model: SegFormer-{config['model']['variant']}, {sum(p.numel() for p in trainer.model.parameters()):,} weights, {trainer.labels.dim}-d embeddings of {len(trainer.labels.names)} labels ({trainer.labels.encoder_id}, {config['labelText']}); {world} process(es) on {device.type} ({'nccl' if device.type == 'cuda' and world > 1 else 'gloo' if world > 1 else 'no process group'})")  # type: ignore[index]
        total = int(config["steps"])  # type: ignore[arg-type]
        every = max(1, round(total / 20))
        for step in range(trainer.start_step, total):
            started = time.perf_counter()
            images, failures = trainer.load(step)
            for line in failures:
                _log(f"rank {rank}: {line}")
            m = trainer.step(step, images, len(failures))
            seconds = time.perf_counter() - started
            m.update({"imagesPerSec": (m["images"] / seconds) if seconds > 0 else 0.0, "stepSeconds": seconds, "numTensors": 0, "processes": world})  # type: ignore[operator]
            if rank == 0:
                with open(metrics_file, "a", encoding="utf-8") as f:
                    f.write(json.dumps(m) + "\n")
                out.append(m)
                if (step + 1) % every == 0 or step + 1 == total:
                    _log(f"step {step + 1}/{total} loss {m['loss']:.4f} τ {m['tau']:.4f} lr {m['lr']:.2e} {m['imagesPerSec']:.2f} img/s")
                if (step + 1) % int(config["checkpointEvery"]) == 0 or step + 1 == total:  # type: ignore[arg-type]
                    trainer.save(step + 1)
        if dump_dir is not None:
            os.makedirs(dump_dir, exist_ok=True)
            np.savez(os.path.join(dump_dir, f"rank-{rank}.npz"), **{n: trainer.model.p(n).detach().cpu().numpy() for n in trainer.model.names()})
        if world > 1:
            dist.barrier()
    finally:
        trainer.manifest.close()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return out


def _spawned(rank: int, world: int, config: Dict[str, object], run: str, resume: bool, device_kind: str, dump_dir: Optional[str] = None, dtype: torch.dtype = torch.float32) -> None:
    os.environ["RANK"] = str(rank)
    os.environ["LOCAL_RANK"] = str(rank)
    try:
        run_rank(rank, world, config, run, resume, device_kind, dump_dir, dtype)
    except BridgeError as err:
        _log(f"error: {err}")
        raise SystemExit(2) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summarise(run: str, start: int) -> None:
    """The TypeScript train command's summary on stdout; unreadable images make it fail (exit 2)."""
    with open(os.path.join(run, "metrics.jsonl"), encoding="utf-8") as f:
        lines = [m for m in (json.loads(ln) for ln in f if ln.strip()) if m["step"] > start]
    if not lines:
        return
    latest = os.path.join(run, "checkpoints", "latest.json")
    print(f"run: {run}")
    print(f"steps {start} → {lines[-1]['step']} on {lines[-1].get('processes', 1)} process(es)")
    print(f"loss {lines[0]['loss']:.4f} → {lines[-1]['loss']:.4f}, τ {lines[-1]['tau']:.4f}")
    if os.path.exists(latest):
        with open(latest, encoding="utf-8") as f:
            print(f"checkpoint: {os.path.join(run, 'checkpoints', json.load(f)['dir'])}")
    used, cut = sum(int(m.get("wdBoxes", 0)) for m in lines), sum(int(m.get("wdBoxesCut", 0)) for m in lines)
    if used + cut > 0:
        with open(os.path.join(run, "config.json"), encoding="utf-8") as f:
            share = float(json.load(f)["losses"]["wdMinVisible"])
        print(f"L_WD boxes: {used} used, {cut} left out (the crop showed less than {round(share * 100)}% of their area; losses.wdMinVisible)")
    skipped = sum(int(m["skipped"]) for m in lines)
    if sum(int(m["images"]) for m in lines) == 0:
        raise BridgeError(f"no image could be read in {len(lines)} step(s): every one was skipped (listed above)")
    if skipped > 0:
        raise BridgeError(f"{skipped} unreadable image(s) skipped (listed above); the steps trained on the others and the checkpoint is saved")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m sentseg_torch.train", description="Train sentseg's SegFormer with PyTorch DistributedDataParallel on a sentseg manifest and label bank; writes a run folder that `sentseg eval`, `sentseg predict` and `sentseg train --resume` read.")
    p.add_argument("--manifest", help="manifest.sqlite (merge-datasets)")
    p.add_argument("--label-bank", help="label-bank.sqlite (label-bank embed)")
    p.add_argument("--out", help="run folder to create")
    p.add_argument("--resume", help="continue the run in this folder (written by either trainer) from its latest checkpoint")
    p.add_argument("--overwrite", action="store_true", help="start over in a folder that holds a run")
    p.add_argument("--config", help="settings file (JSON), the TypeScript trainer's keys")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting (value as JSON), e.g. --set data.batchSize=8")
    p.add_argument("--steps", type=int, help="training steps in all (with --resume: continue up to this many)")
    p.add_argument("--nproc", type=int, default=1, help="processes to spawn on this machine (one per GPU on CUDA); ignored under torchrun")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: CUDA when available, else CPU")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.resume and args.out:
            raise BridgeError("--out and --resume both name the run folder; give one")
        if not args.resume and not args.out:
            raise BridgeError("name the run folder: --out DIR (or --resume DIR)")
        run = os.path.abspath(args.resume or args.out)
        layers: List[Dict[str, object]] = []
        wheres: List[str] = []
        if args.resume:
            cfg_file = os.path.join(run, "config.json")
            if not os.path.exists(cfg_file):
                raise BridgeError(f"{run} holds no run to resume (no config.json); start one with --out {run}")
            with open(cfg_file, encoding="utf-8") as f:
                layers.append(json.load(f))
            wheres.append(cfg_file)
        if args.config:
            with open(args.config, encoding="utf-8") as f:
                layers.append(json.load(f))
            wheres.append(args.config)
        flags: Dict[str, object] = {}
        if args.manifest:
            flags["manifest"] = args.manifest
        if args.label_bank:
            flags["labelBank"] = args.label_bank
        if args.steps is not None:
            flags["steps"] = args.steps
        layers.append(flags)
        wheres.append("the command line")
        for s in args.set:
            layers.append(parse_override(s))
            wheres.append(f"--set {s}")
        config = with_absolute_paths(resolve_config(layers, wheres), os.getcwd())
        if not args.resume:
            found = [e for e in RUN_ENTRIES if os.path.exists(os.path.join(run, e))]
            if found and not args.overwrite:
                raise BridgeError(f"{run} already holds a run (config.json, metrics.jsonl, checkpoints/): continue it with --resume {run}, or start it over with --overwrite")
            for e in found:
                path = os.path.join(run, e)
                import shutil
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        at = 0
        if args.resume:
            at = int(load_checkpoint(run).state["step"])  # type: ignore[arg-type]
            if int(config["steps"]) <= at:  # type: ignore[arg-type]
                raise BridgeError(f"{run} is at step {at} of {config['steps']}: nothing to do; give --steps above {at} to continue it")
        for key, role in (("manifest", "manifest"), ("labelBank", "label bank")):
            if not os.path.exists(str(config[key])):
                raise BridgeError(f"{role} not found: {config[key]}")
        # Inputs are read once here, so a bad file (or a missing box-embedding cache) is named before
        # any process starts and before the run folder is made.
        check_inputs(config)
        os.makedirs(run, exist_ok=True)
        device_kind = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
        if args.device == "cuda" and not torch.cuda.is_available():
            raise BridgeError("--device cuda: this PyTorch sees no CUDA device")
        if args.nproc < 1:
            raise BridgeError(f"--nproc must be 1 or more, got {args.nproc}")
        if device_kind == "cuda" and "WORLD_SIZE" not in os.environ and args.nproc > torch.cuda.device_count():
            raise BridgeError(f"--nproc {args.nproc}: this machine has {torch.cuda.device_count()} CUDA device(s); one process per GPU")
        if "WORLD_SIZE" in os.environ:  # torchrun
            run_rank(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), config, run, bool(args.resume), device_kind)
        elif args.nproc > 1:
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
            import torch.multiprocessing as mp
            mp.spawn(_spawned, args=(args.nproc, config, run, bool(args.resume), device_kind), nprocs=args.nproc, join=True)
        else:
            run_rank(0, 1, config, run, bool(args.resume), device_kind)
        if os.environ.get("RANK", "0") == "0":
            summarise(run, at if args.resume else 0)
    except BridgeError as err:
        _log(f"error: {err}")
        return 2
    except Exception as err:  # a spawned rank's failure arrives as ProcessRaisedException
        if type(err).__name__ == "ProcessExitedException":
            _log(f"error: a training process failed: {err}")
            return 1
        raise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
