/**
 * Training at the paper's sizes (issue 18): one SegFormer training step (L_HD over 238 labels of
 * 512-d, AdamW), as the trainer runs it, at a given variant, crop and batch on the WebAssembly
 * backend, each size in a child process of its own so that its peak RSS is its own. Prints
 * s/step, peak RSS, the WebAssembly heap and, when /usr/bin/python3 has torch, PyTorch's figures
 * for the same step (../shared/bench/torch_segformer_bench.py) beside it.
 *
 *   node packages/trainer/dist/bench/train-memory-bench.js [variant crop batch]...
 *   (default: b0 256 2, b0 512 2, b0 640 1; RECOMPUTE=off|encoder|on forces what a step recomputes)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, seededRandom } from '@sentseg/common';
import { selectBackend } from '../backend/select.js';
import { DEFAULT_CONFIG } from '../config.js';
import type { LossContext } from '../losses/table.js';
import { stepLosses } from '../train-step.js';
import { SEGFORMER_VARIANTS, SegFormer, segformerConfig, OUTPUT_STRIDE } from '../model/segformer.js';
import { Optimizer } from '../optim/optimizers.js';
import { applyRecompute, RECOMPUTE_SETTINGS, recomputeFor, stepBytesFor, type RecomputeMode, type RecomputeSetting } from '../model/memory.js';
import { variableGrads } from '../model/backprop.js';
import { tf, type Tensor } from '../tf.js';

const LABELS = 238;
const DIM = 512;
const TORCH_BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/bench/torch_segformer_bench.py');

interface ChildResult {
  ok: boolean;
  error?: string;
  secondsPerStep: number;
  peakRssMiB: number;
  wasmHeapMiB: number | null;
}

/** As the trainer chooses (model.recompute=auto); RECOMPUTE=off, encoder or on forces a mode, to measure each. */
function modeFor(variant: string, crop: number, batch: number): RecomputeMode {
  const forced = process.env.RECOMPUTE ?? 'auto';
  if (!(RECOMPUTE_SETTINGS as string[]).includes(forced)) throw new Error(`RECOMPUTE must be one of ${RECOMPUTE_SETTINGS.join(', ')}, got "${forced}"`);
  return recomputeFor(segformerConfig(variant, DIM), crop, batch, forced as RecomputeSetting);
}

async function child(variant: string, crop: number, batch: number, steps: number): Promise<void> {
  await selectBackend('wasm');
  const model = new SegFormer(segformerConfig(variant, DIM), 1);
  applyRecompute(model, modeFor(variant, crop, batch));
  const random = seededRandom(2);
  const labelEmb = tf.tensor2d(Float32Array.from({ length: LABELS * DIM }, () => random() - 0.5), [LABELS, DIM]);
  const side = crop / OUTPUT_STRIDE;
  const pixels = Float32Array.from({ length: batch * crop * crop * 3 }, () => random() * 2 - 1);
  const targets = Int32Array.from({ length: batch * side * side }, () => Math.floor(random() * LABELS));
  const optimizer = new Optimizer({ ...DEFAULT_CONFIG.optimizer });
  const params = model.params.entries();
  const trainable = params.map(([, v]) => v);
  const times: number[] = [];
  const context: LossContext = { labelEmb, logTau: model.logTau, ldDropFraction: 0, wdConv: null };
  for (let s = 0; s < steps; s++) {
    const started = performance.now();
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor4d(pixels, [batch, crop, crop, 3]);
      const t = tf.tensor3d(targets, [batch, side, side], 'int32');
      // The trainer's own losses (train-step.ts stepLosses): from the head's input, or band by band from the features.
      return variableGrads(() => stepLosses(model, x, t, { hd: { start: 0, count: batch, boxes: [], clipBoxEmb: null } }, false, context).hd as tf.Scalar, trainable);
    });
    await value.data();
    optimizer.apply(params, grads, 6e-5, (name) => model.decays(name), (v) => v.name);
    tf.dispose([value, ...Object.values(grads)]);
    times.push((performance.now() - started) / 1000);
  }
  const rest = times.slice(1).sort((a, b) => a - b);
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  const result: ChildResult = { ok: true, secondsPerStep: rest[Math.floor(rest.length / 2)] ?? (times[0] as number), peakRssMiB: peakRssMiB(), wasmHeapMiB: wasm ? wasm.HEAPU8.byteLength / 2 ** 20 : null };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(variant: string, crop: number, batch: number, steps: number): ChildResult {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', variant, String(crop), String(batch), String(steps)], { encoding: 'utf8' });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status === 0 && last.startsWith('{')) return JSON.parse(last) as ChildResult;
  const why = `${r.stderr ?? ''}`.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0] ?? `exit ${r.status}`;
  return { ok: false, error: why.slice(0, 160), secondsPerStep: NaN, peakRssMiB: NaN, wasmHeapMiB: null };
}

/** PyTorch's s/step and peak RSS for the same step, or null when /usr/bin/python3 has no torch. */
function torchFigures(variant: string, crop: number, batch: number, steps: number): { line: string; peakRssMiB: number } | null {
  if (!existsSync('/usr/bin/python3') || !existsSync(TORCH_BENCH)) return null;
  const script = `import resource, runpy, sys\nsys.argv = ${JSON.stringify([TORCH_BENCH, variant, String(crop), String(batch), String(steps)])}\nrunpy.run_path(sys.argv[0], run_name='__main__')\nprint('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n`;
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const line = out.split('\n').find((l) => l.startsWith('pytorch')) ?? '';
    const kib = Number(/peak_rss_kib (\d+)/.exec(out)?.[1]);
    return line && Number.isFinite(kib) ? { line, peakRssMiB: kib / 1024 } : null;
  } catch {
    return null;
  }
}

const USAGE = `usage: train-memory-bench.js [VARIANT CROP BATCH]...

Times one SegFormer training step (L_HD over ${LABELS} labels of ${DIM}-d, AdamW) on the WebAssembly backend at each size,
in a child process of its own, and prints s/step, peak RSS, the WebAssembly heap and the trainer's estimate; with
/usr/bin/python3's torch, PyTorch's figures for the same step beside it. Default sizes: b0 256 2, b0 512 2, b0 640 1.
Environment: BENCH_STEPS (default 3); RECOMPUTE=off, encoder or on forces what a step recomputes (default auto, as the trainer).`;

/** VARIANT CROP BATCH triples; null when the arguments are not such triples. */
function parseSizes(args: string[]): [string, number, number][] | null {
  if (args.length % 3 !== 0) return null;
  const sizes: [string, number, number][] = [];
  for (let i = 0; i < args.length; i += 3) {
    const [variant, crop, batch] = [args[i] as string, Number(args[i + 1]), Number(args[i + 2])];
    if (!(variant in SEGFORMER_VARIANTS) || !Number.isInteger(crop) || crop < 32 || crop % 32 !== 0 || !Number.isInteger(batch) || batch < 1) return null;
    sizes.push([variant, crop, batch]);
  }
  return sizes;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1] as string, Number(args[2]), Number(args[3]), Number(args[4]));
    return;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const sizes = parseSizes(args);
  if (sizes === null) {
    process.stderr.write(`error: expected sizes as VARIANT CROP BATCH triples (variant ${Object.keys(SEGFORMER_VARIANTS).join(" or ")}, crop a multiple of 32, batch ≥ 1), got "${args.join(' ')}"\nrun train-memory-bench.js --help for usage\n`);
    process.exitCode = 2;
    return;
  }
  if (sizes.length === 0) sizes.push(['b0', 256, 2], ['b0', 512, 2], ['b0', 640, 1]);
  const steps = Number(process.env.BENCH_STEPS ?? 3);
  console.log(`training-memory bench: one step (L_HD, ${LABELS} labels, ${DIM}-d, AdamW) on wasm, ${steps} steps, median of all but the first`);
  for (const [variant, crop, batch] of sizes) {
    const mode = modeFor(variant, crop, batch);
    const estimate = stepBytesFor(segformerConfig(variant, DIM), crop, batch, mode) / 2 ** 20;
    const r = runChild(variant, crop, batch, steps);
    const ours = r.ok ? `${r.secondsPerStep.toFixed(2)} s/step, peak RSS ${r.peakRssMiB.toFixed(0)} MiB, wasm heap ${r.wasmHeapMiB?.toFixed(0) ?? '?'} MiB` : `failed: ${r.error}`;
    console.log(`  ${variant} ${crop}×${crop} batch ${batch}: ${ours} (model.recompute=${mode}; estimated heap ${estimate.toFixed(0)} MiB)`);
    const torch = torchFigures(variant, crop, batch, steps);
    if (torch) {
      const ratio = r.ok ? `; ours / PyTorch: memory ${(r.peakRssMiB / torch.peakRssMiB).toFixed(2)}×` : '';
      console.log(`    ${torch.line}, peak RSS ${torch.peakRssMiB.toFixed(0)} MiB${ratio}`);
    }
  }
}

await main();
