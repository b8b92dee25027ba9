/**
 * npm run bench (trainer part): step time and images/s of the tiny SegFormer at 256×256, batch 4,
 * 512-d label embeddings (CLIP ViT-B/32's size) of the 238 labels, on every backend that loads
 * here; the loader's images/s alone (0 and 1 worker threads); peak RSS. Beside it, when
 * /usr/bin/python3 has torch, the same step in PyTorch on the CPU (../shared/bench/
 * torch_segformer_bench.py) and the ratio ours/PyTorch.
 *
 *     node packages/trainer/dist/bench/train-bench.js [--backend wasm|cpu|tensorflow]
 *       [--variant tiny|b0|...] [--size N] [--batch N] [--steps N] [--recompute auto|off|encoder|on] [--threads auto|1|2]
 *
 * `--backend` runs that backend's training step alone (and the PyTorch peer): no loader, eval or
 * predict lines. `--variant/--size/--batch/--steps` change the step measured (both sides); `--recompute` sets
 * model.recompute (default auto: the trainer's own choice), and the line says which ran; `--threads`
 * sets model.threads (default auto, as the trainer; 2: half of each batch in a worker thread,
 * parallel-step.ts), and the line says how many ran.
 * Each backend runs in a child process of its own so its peak RSS is its own.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os, { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, seededRandom } from '@sentseg/common';
import { ManifestReader, mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { writeAde20k, writeCityscapes } from '@sentseg/dataset-tools/testing';
import { LabelBank, labelText } from '@sentseg/label-bank';
import { resolveConfig, type ThreadsSetting } from '../config.js';
import { BatchLoader } from '../data/loader.js';
import { NOT_A_CLASS } from '../data/load-sample.js';
import { BalancedSampler } from '../data/sampler.js';
import { threadsFor, train } from '../train.js';
import { accumulateConfusion } from '../metrics/iou.js';
import { evaluate } from '../eval/evaluate.js';
import { listInputs, predict } from '../predict/predict.js';
import { selectBackend } from '../backend/select.js';
import { INPUT_MULTIPLE, SEGFORMER_VARIANTS, segformerConfig } from '../model/segformer.js';
import { runChild, UsageError } from './measure.js';
import { RECOMPUTE_SETTINGS, recomputeFor, type RecomputeSetting } from '../model/memory.js';
import { mkdirSync, copyFileSync } from 'node:fs';

const ENCODER = 'bench:seeded-random-512';

async function writeWorld(dir: string): Promise<{ manifest: string; bank: string }> {
  await writeCityscapes(path.join(dir, 'cityscapes'), { train: 24, val: 4 }, [512, 256]);
  await writeAde20k(path.join(dir, 'ade'), { training: 24 }, [384, 288]);
  const manifest = path.join(dir, 'manifest.sqlite');
  await mergeDatasets(manifest, parseDatasetSpecs([`cityscapes=${path.join(dir, 'cityscapes')}`, `ade20k=${path.join(dir, 'ade')}`]), { workers: 0 });
  const bank = path.join(dir, 'bank.sqlite');
  const b = LabelBank.open(bank);
  const random = seededRandom(3);
  b.registerModel(ENCODER, 'bench', 512);
  b.putEmbeddings(
    ENCODER,
    b.labels().map((l) => ({ text: labelText(l, 'sentence'), vector: new Float32Array(512).map(() => random() - 0.5) })),
  );
  b.close();
  return { manifest, bank };
}

/** The training step measured: model variant, square crop size, batch, model.recompute, model.threads. */
interface Step {
  variant: string;
  size: number;
  batch: number;
  recompute: RecomputeSetting;
  threads: ThreadsSetting;
}

const BASE = (manifest: string, bank: string, step: Step = { variant: 'tiny', size: 256, batch: 4, recompute: 'auto', threads: 'auto' }) => ({
  manifest,
  labelBank: bank,
  checkpointEvery: 1000,
  model: { variant: step.variant, recompute: step.recompute, threads: step.threads },
  data: { batchSize: step.batch, shortEdge: step.size, crop: step.size, workers: 1, prefetch: 2 },
});

/** Child: train a few steps on one backend and print one JSON line. */
async function child(backend: string, manifest: string, bank: string, steps: number, dir: string, step: Step): Promise<void> {
  const config = resolveConfig([{ where: 'bench', values: { ...BASE(manifest, bank, step), backend, steps } }]);
  const summary = await train({ config, run: path.join(dir, `run-${backend}`), log: () => {}, progress: false });
  const timed = summary.metrics.slice(1).map((m) => m.stepSeconds).sort((a, b) => a - b);
  const median = timed[Math.floor(timed.length / 2)] as number;
  // As train.ts decides: the threads first, then the mode for each heap's share of the batch.
  const { threads } = threadsFor(step.threads, summary.backend.name, step.batch, step.size, availableParallelism());
  const activations = recomputeFor(segformerConfig(step.variant, 512), step.size, Math.ceil(step.batch / threads), step.recompute);
  process.stdout.write(`${JSON.stringify({ backend: summary.backend.name, kernels: summary.backend.kernels, activations, threads, first: summary.metrics[0]?.stepSeconds, median, steps: timed.length, peakRssMiB: peakRssMiB() })}\n`);
}

const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
const USAGE = 'usage: train-bench.js [--backend wasm|cpu|tensorflow [--rounds N]] [--variant NAME] [--size N] [--batch N] [--steps N] [--recompute auto|off|encoder|on] [--threads auto|1|2]';

interface Options {
  backend: (typeof BACKENDS)[number] | null;
  step: Step;
  steps: number | null;
  /** With --backend: rounds of (ours, then PyTorch), the ratio their median. */
  rounds: number;
}

/** Parses the command line; throws UsageError on a usage mistake. */
function parseOptions(args: string[]): Options {
  const fail = (why: string): never => {
    throw new UsageError(why);
  };
  const options: Options = { backend: null, step: { variant: 'tiny', size: 256, batch: 4, recompute: 'auto', threads: 'auto' }, steps: null, rounds: 1 };
  const positive = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) fail(`${flag} takes a positive integer, got "${v}"`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] as string;
    const v = args[i + 1];
    if (!['--backend', '--variant', '--size', '--batch', '--steps', '--recompute', '--threads', '--rounds'].includes(flag)) fail(`unknown argument "${flag}" (${USAGE.slice(7)})`);
    if (v === undefined) fail(`${flag} needs a value`);
    i++;
    const val = v as string;
    if (flag === '--backend') {
      if (!(BACKENDS as readonly string[]).includes(val)) fail(`--backend takes one of ${BACKENDS.join(', ')}, got "${val}"`);
      options.backend = val as Options['backend'];
    } else if (flag === '--variant') {
      if (!SEGFORMER_VARIANTS[val]) fail(`--variant takes one of ${Object.keys(SEGFORMER_VARIANTS).join(', ')}, got "${val}"`);
      options.step.variant = val;
    } else if (flag === '--size') {
      options.step.size = positive(flag, val);
      if (options.step.size % INPUT_MULTIPLE !== 0) fail(`--size must be a multiple of ${INPUT_MULTIPLE}, got ${val}`);
    } else if (flag === '--recompute') {
      if (!(RECOMPUTE_SETTINGS as string[]).includes(val)) fail(`--recompute takes one of ${RECOMPUTE_SETTINGS.join(', ')}, got "${val}"`);
      options.step.recompute = val as RecomputeSetting;
    } else if (flag === '--threads') {
      if (val !== 'auto' && val !== '1' && val !== '2') fail(`--threads takes auto, 1 or 2, got "${val}"`);
      options.step.threads = val === 'auto' ? 'auto' : val === '1' ? 1 : 2;
    } else if (flag === '--batch') options.step.batch = positive(flag, val);
    else if (flag === '--rounds') options.rounds = positive(flag, val);
    else options.steps = positive(flag, val);
  }
  if (options.rounds > 1 && !options.backend) fail('--rounds needs --backend (rounds of one backend against PyTorch)');
  return options;
}

/** The PyTorch peer (../shared/bench/torch_segformer_bench.py) on the same step: its median s/step, or why there is none. */
function torchPeer(self: string, step: Step, steps: number): { line: string; median: number | null } {
  const python = '/usr/bin/python3';
  const script = path.resolve(path.dirname(self), '..', '..', '..', '..', '..', 'shared', 'bench', 'torch_segformer_bench.py');
  if (!existsSync(script)) return { line: `PyTorch peer: not available (${script} is missing)`, median: null };
  try {
    const out = execFileSync(python, [script, step.variant, String(step.size), String(step.batch), String(steps)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const median = /median ([\d.]+) s\/step/.exec(out)?.[1];
    return { line: `PyTorch peer (../shared/bench/torch_segformer_bench.py): ${out}`, median: median ? Number(median) : null };
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
    const why = /No module named '?torch'?/.test(stderr) ? `${python} has no torch` : (stderr.split('\n').pop() ?? (err as Error).message);
    return { line: `PyTorch peer: not available (${why.slice(0, 300)})`, median: null };
  }
}

async function loaderAlone(manifest: string, workers: number, batches: number): Promise<number> {
  const reader = ManifestReader.open(manifest);
  const datasets = reader.datasets().map((d) => ({ name: d.name, ids: reader.imageIds(d.name, d.splits[0] as string) }));
  const sampler = new BalancedSampler(datasets, 4, 1);
  const config = resolveConfig([{ where: 'bench', values: BASE(manifest, '') }]);
  const loader = new BatchLoader({
    reader,
    sampler,
    datasets: reader.datasets().map((d) => ({ name: d.name, annotation: d.annotation, encoding: d.encoding, lut: reader.lut(d.name, reader.ignoreIndex(), NOT_A_CLASS) })),
    augment: config.data,
    minBoxVisible: config.losses.wdMinVisible,
    numLabels: reader.labels().length,
    seed: 1,
    workers,
    prefetch: 2,
    lastStep: batches,
  });
  await loader.batch(0);
  const started = performance.now();
  let images = 0;
  for (let s = 1; s <= batches; s++) images += (await loader.batch(s)).images.length;
  const seconds = (performance.now() - started) / 1000;
  await loader.close();
  reader.close();
  return images / seconds;
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === '--child') {
    const [backend, manifest, bank, steps, dir, variant, size, batch, recompute, threads] = rest as [string, string, string, string, string, string, string, string, RecomputeSetting, string];
    await child(backend, manifest, bank, Number(steps), dir, { variant, size: Number(size), batch: Number(batch), recompute, threads: threads === 'auto' ? 'auto' : threads === '1' ? 1 : 2 });
    return;
  }
  if (process.argv.includes('--help')) {
    console.log(`${USAGE}\n\nTimes the same SegFormer training step on each available backend (or only --backend) and, when /usr/bin/python3 has torch, PyTorch's step (../shared/bench) beside it with the ratio. Defaults: tiny, --size 256, --batch 4, --recompute auto, --threads auto (as the trainer: model.recompute, model.threads). --rounds N (with --backend) repeats ours-then-PyTorch N times and prints the median ratio.`);
    return;
  }
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`train-bench: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const { step } = options;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sentseg-model-bench-'));
  try {
    const { manifest, bank } = await writeWorld(dir);
    console.log(`trainer bench: SegFormer-${step.variant}, ${step.size}×${step.size} crops, batch ${step.batch}, 512-d embeddings of 238 labels, loss L_HD`);
    if (!options.backend) {
      for (const [workers, batches] of [[0, 10], [1, 10]] as const) {
        const ips = await loaderAlone(manifest, workers, batches);
        console.log(`  loader alone, ${workers} worker thread(s): ${ips.toFixed(1)} images/s (decode, resize, crop, jitter, remap; 512×256 and 384×288 PNGs)`);
      }
    }
    const self = fileURLToPath(import.meta.url);
    const runs = options.backend ? [[options.backend, options.steps ?? 4] as const] : ([['wasm', options.steps ?? 4], ['cpu', options.steps ?? 2], ['tensorflow', options.steps ?? 4]] as const);
    // Each round runs ours, then PyTorch, back to back: on a shared machine whose speed drifts from
    // minute to minute, the median of several such pairs is steadier than one pair.
    const ratios = new Map<string, number[]>();
    for (let round = 1; round <= options.rounds; round++) {
      if (options.rounds > 1) console.log(`  round ${round} of ${options.rounds}:`);
      const medians = new Map<string, number>();
      for (const [backend, steps] of runs) {
        // Each round trains afresh (the trainer refuses to write over an earlier round's run).
        rmSync(path.join(dir, `run-${backend}`), { recursive: true, force: true });
        const child = runChild<{ backend: string; kernels: string; activations: string; threads: number; first: number; median: number; steps: number; peakRssMiB: number }>(self, ['--child', backend, manifest, bank, String(steps), dir, step.variant, String(step.size), String(step.batch), step.recompute, String(step.threads)]);
        if (child.ok) {
          const r = child.value;
          medians.set(r.backend, r.median);
          console.log(`  backend ${r.backend}: first step ${r.first.toFixed(2)} s, then median ${r.median.toFixed(2)} s/step over ${r.steps} = ${(step.batch / r.median).toFixed(2)} images/s; peak RSS ${r.peakRssMiB.toFixed(0)} MiB; ${r.kernels} kernels; model.recompute=${step.recompute === r.activations ? r.activations : `${step.recompute} → ${r.activations}`}; ${r.threads} thread(s)${step.threads === 'auto' ? ' (model.threads=auto)' : ''}`);
        } else {
          const reason = /Error: (.*)/i.exec(child.stderr)?.[1] ?? child.stderr.trim().split('\n').pop() as string;
          console.log(`  backend ${backend}: not available (${reason.slice(0, 300)})`);
        }
      }
      // The one backend asked for did not run: nothing to set beside PyTorch (train refuses it too, exit 2).
      if (options.backend && medians.size === 0) {
        process.exitCode = 2;
        return;
      }
      const peer = torchPeer(self, step, Math.max(3, (options.steps ?? 4) + 2));
      console.log(`  ${peer.line}`);
      if (peer.median !== null && medians.size > 0) {
        console.log(`  ratio ours/PyTorch (s/step; below 1.0 is faster): ${[...medians].map(([b, m]) => `${b} ${(m / (peer.median as number)).toFixed(2)}`).join(', ')}`);
        for (const [b, m] of medians) ratios.set(b, [...(ratios.get(b) ?? []), m / peer.median]);
      }
    }
    if (options.rounds > 1) {
      for (const [b, r] of ratios) {
        const sorted = [...r].sort((x, y) => x - y);
        const median = sorted.length % 2 === 1 ? (sorted[sorted.length >> 1] as number) : ((sorted[sorted.length / 2 - 1] as number) + (sorted[sorted.length / 2] as number)) / 2;
        console.log(`  ratio ours/PyTorch over ${r.length} rounds (s/step; below 1.0 is faster): ${b} median ${median.toFixed(2)}, from ${(sorted[0] as number).toFixed(2)} to ${(sorted[sorted.length - 1] as number).toFixed(2)} (${r.map((x) => x.toFixed(2)).join(', ')})`);
      }
    }
    if (options.backend) return;
    // The PyTorch bridge (python/, sentseg-torch) on the same manifest, model, crop and batch.
    const python = '/usr/bin/python3';
    const pythonDir = path.resolve(path.dirname(self), '..', '..', '..', '..', 'python');
    try {
      const out = execFileSync(python, ['-m', 'sentseg_torch.bench', '--manifest', manifest, '--label-bank', bank, '--variant', 'tiny', '--crop', '256', '--batch', '4', '--steps', '4', '--nproc', '1,2'], {
        cwd: pythonDir,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      for (const line of out.trim().split('\n')) {
        const r = JSON.parse(line) as { nproc: number; torch: string; threads: number; first: number; median: number; steps: number; imagesPerSec: number; error?: string };
        if (r.error) console.log(`  PyTorch bridge, ${r.nproc} process(es): failed (${r.error})`);
        else console.log(`  PyTorch bridge (torch ${r.torch}, CPU, ${r.nproc} process(es) × ${r.threads} thread(s)): first step ${r.first.toFixed(2)} s, then median ${r.median.toFixed(2)} s/step over ${r.steps} = ${r.imagesPerSec.toFixed(2)} images/s`);
      }
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      console.log(`  PyTorch bridge: not available (${(stderr.trim().split('\n').pop() ?? (err as Error).message).slice(0, 300)}; needs ${python} with torch, numpy, Pillow)`);
    }
    // Metrics and inference, on the wasm run's checkpoint.
    const random = seededRandom(4);
    const size = 1024 * 2048;
    const pred = Int32Array.from({ length: size }, () => Math.floor(random() * 19));
    const target = Int32Array.from({ length: size }, (_, i) => (i % 97 === 0 ? 255 : Math.floor(random() * 19)));
    const confusion = new Float64Array(19 * 19);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) accumulateConfusion(confusion, pred, target, 19);
    const accSeconds = (performance.now() - t0) / 1000;
    console.log(`  confusion accumulation alone: ${((5 * size) / 1e6 / accSeconds).toFixed(1)} megapixels/s (19 classes, 2048×1024 maps)`);
    await selectBackend('wasm');
    const run = path.join(dir, 'run-wasm');
    const report = await evaluate({ run, manifest, labelBank: bank, dataset: 'cityscapes', split: 'val', infer: { scales: [256], flip: false } });
    console.log(`  eval ss 256, cityscapes layout 512×256: ${report.images} images, ${(report.megapixels / report.seconds).toFixed(3)} megapixels/s (${(report.images / report.seconds).toFixed(2)} images/s)`);
    const photos = path.join(dir, 'photos');
    mkdirSync(photos, { recursive: true });
    const reader = ManifestReader.open(manifest);
    for (const s of reader.samples('cityscapes', 'val')) copyFileSync(s.image, path.join(photos, path.basename(s.image)));
    reader.close();
    const predicted = await predict({ run, labelBank: bank, inputs: listInputs(photos), out: path.join(dir, 'pred'), labels: null, shortEdge: 256, scores: 0 });
    console.log(`  predict, 238 labels, short edge 256, 512×256 images: ${(predicted.images.length / predicted.seconds).toFixed(2)} images/s (label PNG + overlay + legend each)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
