/**
 * infer-bench --samples (opt-in, issue 18): eval of a trained checkpoint on the real ADE20K and
 * SUN RGB-D samples of ../shared/datasets/mseg-api-samples at large short edges, single scale and
 * multi-scale + flip. Each eval runs in a child process of its own (evaluate(), what `sentseg eval`
 * runs), so its peak RSS (VmHWM) is its own.
 *
 * Without --run the bench makes its checkpoint as a user would, in a temporary folder: the two
 * samples merged into a manifest, a label bank with the lexical baseline's embeddings of the
 * shipped label texts, and a short training run of the default model. It measures time and
 * memory, not accuracy.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { peakRssMiB } from '@sentseg/common';
import { ManifestReader, mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { embedLabels, LabelBank, loadTextEncoder } from '@sentseg/label-bank';
import { selectBackend } from '../backend/select.js';
import { resolveConfig } from '../config.js';
import { evaluate } from '../eval/evaluate.js';
import { tf } from '../tf.js';
import { runChild, UsageError } from './measure.js';
import { train } from '../train.js';

/** The samples this mode can read: name on the command line → dataset name, format and folder under mseg-api-samples. */
export const SAMPLE_DATASETS = {
  ade20k: { dataset: 'ade20k', format: 'ade20k', folder: 'ADE20K_test_data/ADEChallengeData2016' },
  sun: { dataset: 'sun-rgbd', format: 'sun-rgbd', folder: 'SUNRGBD_test_data' },
} as const;
export type SampleName = keyof typeof SAMPLE_DATASETS;

export const SAMPLES_USAGE = 'usage: infer-bench.js --samples ade20k,sun [--short-edges 1024,2048] [--run RUN] [--steps N] [--shared DIR]';

/** The multi-scale run at short edge S: S × these ratios, with flip (the largest scale is S). */
export const MULTI_SCALE_RATIOS = [0.5, 0.75, 1] as const;

/** The eval's scales (short edges) for one line: the short edge alone, or MULTI_SCALE_RATIOS of it (the largest is the short edge). */
export function evalScales(shortEdge: number, multi: boolean): number[] {
  return multi ? MULTI_SCALE_RATIOS.map((r) => Math.round(r * shortEdge)) : [shortEdge];
}

export interface SamplesOptions {
  samples: SampleName[];
  shortEdges: number[];
  /** A trained run folder (or checkpoint); absent: one is trained for the bench. */
  run: string | null;
  /** Training steps of the bench's own checkpoint. */
  steps: number;
  /** The shared data folder (default: ../shared beside the checkout). */
  shared: string;
}

/** The shared folder beside this checkout (packages/trainer/dist/bench → ../shared). */
export function defaultSharedFolder(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared');
}

/** Parses `--samples ...` and its flags; throws UsageError on a usage mistake. */
export function parseSamplesOptions(args: string[], shared = defaultSharedFolder()): SamplesOptions {
  const fail = (why: string): never => {
    throw new UsageError(why);
  };
  const options: SamplesOptions = { samples: [], shortEdges: [1024, 2048], run: null, steps: 30, shared };
  const positive = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) fail(`${flag} takes positive integers, got "${v}"`);
    return n;
  };
  const flags = ['--samples', '--short-edges', '--run', '--steps', '--shared'];
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] as string;
    const value = args[i + 1];
    if (!flags.includes(flag)) fail(`unknown argument "${flag}" (${SAMPLES_USAGE.slice(7)})`);
    if (value === undefined || value.startsWith('--')) fail(`${flag} needs a value`);
    const v = value as string;
    if (flag === '--samples') {
      options.samples = v.split(',').map((s) => {
        const name = s.trim() === 'sun-rgbd' ? 'sun' : s.trim();
        if (!(name in SAMPLE_DATASETS)) fail(`--samples takes ${Object.keys(SAMPLE_DATASETS).join(', ')} (comma-separated), got "${s}"`);
        return name as SampleName;
      });
    } else if (flag === '--short-edges') options.shortEdges = v.split(',').map((s) => positive(flag, s.trim()));
    else if (flag === '--run') options.run = path.resolve(v);
    else if (flag === '--steps') options.steps = positive(flag, v);
    else options.shared = path.resolve(v);
  }
  if (options.samples.length === 0) fail(`--samples is required in this mode (${SAMPLES_USAGE.slice(7)})`);
  options.samples = [...new Set(options.samples)];
  return options;
}

/** The samples' folder, or a UsageError saying it is absent (the bench then measures nothing). */
export function sampleFolders(options: SamplesOptions): Map<SampleName, string> {
  const root = path.join(options.shared, 'datasets', 'mseg-api-samples');
  const folders = new Map(options.samples.map((s) => [s, path.join(root, SAMPLE_DATASETS[s].folder)] as const));
  const missing = [...folders.values()].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new UsageError(`the shared samples are absent (${missing.join(', ')} not found): this mode reads ../shared/datasets/mseg-api-samples beside the checkout, or give --shared DIR; nothing was measured`);
  }
  return folders;
}

/** One eval in a child process: what it sends back as a JSON line. */
export interface SampleEvalResult {
  images: number;
  skipped: { file: string; reason: string }[];
  seconds: number;
  /** Megapixels of the images resized to the run's largest short edge (the eval size). */
  evalMegapixels: number;
  inference: { wholeImage: number; slidingWindow: number; windows: string[] };
  peakRssMiB: number;
  wasmHeapMiB: number | null;
}

interface EvalJob {
  run: string;
  manifest: string;
  bank: string;
  dataset: string;
  split: string;
  scales: number[];
  flip: boolean;
}

/** Child: one eval (the function `sentseg eval` runs) on wasm; one JSON line on stdout. */
export async function sampleEvalChild(jobJson: string): Promise<void> {
  const job = JSON.parse(jobJson) as EvalJob;
  await selectBackend('wasm');
  const report = await evaluate({ run: job.run, manifest: job.manifest, labelBank: job.bank, dataset: job.dataset, split: job.split, infer: { scales: job.scales, flip: job.flip } });
  const largest = Math.max(...job.scales);
  let evalMegapixels = 0;
  const reader = ManifestReader.open(job.manifest);
  try {
    for (const sample of reader.samples(job.dataset, job.split)) {
      const { width = 0, height = 0 } = await sharp(sample.image).metadata();
      const scale = largest / Math.min(width, height);
      evalMegapixels += (Math.round(width * scale) * Math.round(height * scale)) / 1e6;
    }
  } finally {
    reader.close();
  }
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  const result: SampleEvalResult = {
    images: report.images,
    skipped: report.skipped,
    seconds: report.seconds,
    evalMegapixels,
    inference: report.inference,
    peakRssMiB: peakRssMiB(),
    wasmHeapMiB: wasm ? wasm.HEAPU8.byteLength / 2 ** 20 : null,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Child: the bench's own checkpoint (default model, lexical label embeddings), `steps` steps on the samples. */
export async function sampleTrainChild(manifest: string, bank: string, run: string, steps: number): Promise<void> {
  const config = resolveConfig([
    { where: 'infer-bench', values: { manifest, labelBank: bank, backend: 'wasm', steps, checkpointEvery: steps, data: { crop: 128, shortEdge: 256, batchSize: 2 }, optimizer: { lr: 1e-3 } } },
  ]);
  const summary = await train({ config, run, log: () => undefined, progress: false });
  process.stdout.write(`${JSON.stringify({ steps: summary.endStep, skippedImages: summary.skippedImages })}\n`);
}

/** Merges the chosen samples into `dir`/manifest.sqlite, as `merge-datasets` does. */
async function sampleManifest(dir: string, folders: Map<SampleName, string>): Promise<string> {
  const manifest = path.join(dir, 'manifest.sqlite');
  const entries = [...folders];
  const specs = parseDatasetSpecs(
    entries.map(([s, folder]) => `${SAMPLE_DATASETS[s].dataset}=${folder}`),
    entries.map(([s]) => `${SAMPLE_DATASETS[s].dataset}=${SAMPLE_DATASETS[s].format}`),
  );
  const merged = await mergeDatasets(manifest, specs);
  if (merged.skipped.length > 0) throw new Error(`merging the samples skipped ${merged.skipped.map((s) => `${s.dataset}: ${s.reason}`).join('; ')}`);
  return manifest;
}

/** The run's label bank (its config.json's labelBank), or an error naming what is missing. */
function runBank(run: string): string {
  const dir = existsSync(path.join(run, 'config.json')) ? run : path.resolve(run, '..', '..');
  const file = path.join(dir, 'config.json');
  if (!existsSync(file)) throw new UsageError(`--run ${run}: no config.json there (or two folders up, for a checkpoint)`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { labelBank: string }).labelBank;
}

function loadLine(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(', ');
}

/** The samples mode: prints one line per eval; resolves to false when an eval failed or skipped an image. */
export async function runSamplesBench(options: SamplesOptions, self: string, log: (line: string) => void): Promise<boolean> {
  const folders = sampleFolders(options);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sentseg-infer-samples-'));
  try {
    const manifest = await sampleManifest(dir, folders);
    let run = options.run;
    let bank: string;
    if (run) {
      bank = runBank(run);
      log(`infer-bench --samples: checkpoint ${run} (label bank ${bank})`);
    } else {
      bank = path.join(dir, 'label-bank.sqlite');
      const handle = LabelBank.open(bank);
      try {
        await embedLabels(handle, await loadTextEncoder('lexical'));
      } finally {
        handle.close();
      }
      run = path.join(dir, 'run');
      const started = performance.now();
      const trained = runChild<{ steps: number }>(self, ['--samples-train', manifest, bank, run, String(options.steps)]);
      if (!trained.ok) throw new Error(`training the bench's checkpoint failed (${trained.why})`);
      log(
        `infer-bench --samples: checkpoint trained here, SegFormer-${resolveConfig([]).model.variant} (the default), ${options.steps} steps on the samples, ` +
          `128×128 crops, batch 2, lexical label embeddings of the shipped texts (${((performance.now() - started) / 1000).toFixed(0)} s); a time and memory measurement, not an accuracy one`,
      );
    }
    log(`  wasm backend; multi-scale = ${MULTI_SCALE_RATIOS.join(', ')} × the short edge, with flip; load average at start ${loadLine()} (${os.cpus().length} cores)`);
    let allOk = true;
    const reader = ManifestReader.open(manifest);
    const splits = new Map(options.samples.map((s) => [s, reader.dataset(SAMPLE_DATASETS[s].dataset).splits[0] as string]));
    reader.close();
    for (const sample of options.samples) {
      const { dataset } = SAMPLE_DATASETS[sample];
      for (const shortEdge of options.shortEdges) {
        for (const multi of [false, true]) {
          const scales = evalScales(shortEdge, multi);
          const job: EvalJob = { run, manifest, bank, dataset, split: splits.get(sample) as string, scales, flip: multi };
          const what = `${dataset} ss ${shortEdge} ${multi ? `multi-scale ${scales.join(',')} + flip` : 'single scale'}`;
          const r = runChild<SampleEvalResult>(self, ['--samples-child', JSON.stringify(job)]);
          if (!r.ok) {
            allOk = false;
            log(`  ${what}: FAILED (${r.why})`);
            continue;
          }
          const v = r.value;
          const how = v.inference.windows.length > 0 ? v.inference.windows.join(' | ') : 'whole image';
          log(
            `  ${what}: ${v.images} image(s), ${v.seconds.toFixed(1)} s, ${(v.evalMegapixels / v.seconds).toFixed(3)} megapixels/s at the eval size (${v.evalMegapixels.toFixed(2)} MP), ` +
              `peak RSS ${v.peakRssMiB.toFixed(0)} MiB, wasm heap ${v.wasmHeapMiB?.toFixed(0) ?? '?'} MiB; ${how}; load ${loadLine()}`,
          );
          if (v.skipped.length > 0) {
            allOk = false;
            for (const s of v.skipped) log(`    SKIPPED ${s.file}: ${s.reason}`);
          }
        }
      }
    }
    return allOk;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
