/**
 * npm run bench (inference part, issue 18): eval's inference on the WebAssembly backend with the
 * default model (SegFormer-tiny, 512-d head, 150 classes as ADE20K's), on the ADE20K sample photo
 * of ../shared (683×512; a drawn picture of that size when ../shared is absent):
 *   - megapixels/s at short edge 1024 (whole image, as chosen automatically);
 *   - the sliding window's cost over the whole image at the same size (512² tiles, stride 352: 1/3 overlap);
 *   - peak RSS at short edge 1024 and 2048 (2048 runs as a sliding window) and their ratio.
 * Each figure comes from a child process of its own, so its peak RSS is its own.
 *
 * Opt-in, not part of `npm run bench`: `--samples ade20k,sun [--short-edges 1024,2048] [--run RUN]`
 * evaluates a trained checkpoint on the real ADE20K and SUN RGB-D samples of ../shared at those
 * short edges, single scale and multi-scale + flip (bench/infer-samples.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { peakRssMiB, seededRandom } from '@sentseg/common';
import { selectBackend } from '../backend/select.js';
import { decodeImage, defaultMaxPixels, describePasses, segment, type DecodedImage } from '../eval/infer.js';
import { DEFAULT_CONFIG } from '../config.js';
import { SegFormer, segformerConfig } from '../model/segformer.js';
import { parseSamplesOptions, runSamplesBench, sampleEvalChild, sampleTrainChild } from './infer-samples.js';
import { UsageError } from './measure.js';
import { tf } from '../tf.js';

const SAMPLE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/datasets/mseg-api-samples/ADE20K_test_data/ADEChallengeData2016/images/training/ADE_train_00000001.jpg');
const CLASSES = 150;

function drawn(width: number, height: number): DecodedImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.set([(255 * x) / width, (255 * y) / height, ((x >> 4) + (y >> 4)) % 2 ? 200 : 40], 3 * (y * width + x));
  return { width, height, rgb };
}

interface ChildResult {
  seconds: number;
  resizedMegapixels: number;
  imageMegapixels: number;
  inference: string;
  peakRssMiB: number;
  wasmHeapMiB: number | null;
}

/** Child: one segmentation at one short edge ('auto', 'whole' or a window size), one JSON line. */
async function child(shortEdge: number, mode: string): Promise<void> {
  await selectBackend('wasm');
  const image = existsSync(SAMPLE) ? await decodeImage(SAMPLE) : drawn(683, 512);
  const model = new SegFormer(segformerConfig(DEFAULT_CONFIG.model.variant, 512), 1);
  const random = seededRandom(2);
  const classEmb = tf.tensor2d(Float32Array.from({ length: CLASSES * 512 }, () => random() - 0.5), [CLASSES, 512]);
  const options = { scales: [shortEdge], flip: false, ...(mode === 'whole' ? { maxPixels: Infinity } : mode === 'auto' ? {} : { window: Number(mode) }) };
  const started = performance.now();
  const seg = await segment(model, image, classEmb, options);
  const seconds = (performance.now() - started) / 1000;
  const pass = seg.passes[0];
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  const result: ChildResult = {
    seconds,
    resizedMegapixels: pass ? (pass.width * pass.height) / 1e6 : 0,
    imageMegapixels: (image.width * image.height) / 1e6,
    inference: describePasses(seg.passes),
    peakRssMiB: peakRssMiB(),
    wasmHeapMiB: wasm ? wasm.HEAPU8.byteLength / 2 ** 20 : null,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(shortEdge: number, mode: string): ChildResult {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(shortEdge), mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop() as string) as ChildResult;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const [flag, shortEdge, mode] = args;
  if (flag === '--child') {
    await child(Number(shortEdge), mode as string);
    return;
  }
  if (flag === '--samples-child') {
    await sampleEvalChild(args[1] as string);
    return;
  }
  if (flag === '--samples-train') {
    const [manifest, bank, run, steps] = args.slice(1) as [string, string, string, string];
    await sampleTrainChild(manifest, bank, run, Number(steps));
    return;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(
      `usage: infer-bench.js [--samples ade20k,sun [--short-edges 1024,2048] [--run RUN] [--steps N] [--shared DIR]]\n\n` +
        'Without arguments (npm run bench): eval\'s inference with the default model on the ADE20K sample photo: megapixels/s at short edge 1024, ' +
        'the sliding window\'s cost over the whole image, and peak RSS at short edge 1024 and 2048. ' +
        'With --samples: a trained checkpoint (--run, else one trained here for --steps steps) evaluated on the real ADE20K and SUN RGB-D samples of ../shared (or --shared DIR) ' +
        'at each short edge, single scale and multi-scale + flip, with time and peak RSS.',
    );
    return;
  }
  if (args.length > 0) {
    try {
      const options = parseSamplesOptions(args);
      if (!(await runSamplesBench(options, fileURLToPath(import.meta.url), (line) => console.log(line)))) {
        console.log('infer-bench --samples: an eval failed or skipped an image (above)');
        process.exitCode = 1;
      }
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      process.stderr.write(`infer-bench: ${err.message}\n`);
      process.exitCode = 2;
    }
    return;
  }
  const budget = defaultMaxPixels({ config: segformerConfig(DEFAULT_CONFIG.model.variant, 512) });
  console.log(`inference bench: SegFormer-${DEFAULT_CONFIG.model.variant} (default), wasm, ${CLASSES} classes, ${existsSync(SAMPLE) ? 'ADE20K sample photo 683×512' : 'a drawn 683×512 picture (../shared absent)'}; whole-image budget ${(budget / 1e6).toFixed(2)} MP`);
  const line = (what: string, r: ChildResult) =>
    console.log(`  ${what}: ${r.seconds.toFixed(1)} s, ${(r.resizedMegapixels / r.seconds).toFixed(3)} megapixels/s at the resized size (${r.resizedMegapixels.toFixed(2)} MP), peak RSS ${r.peakRssMiB.toFixed(0)} MiB, wasm heap ${r.wasmHeapMiB?.toFixed(0) ?? '?'} MiB; ${r.inference}`);
  const at1024 = runChild(1024, 'auto');
  line('eval ss 1024', at1024);
  const tiled = runChild(1024, '512');
  line('eval ss 1024, window 512 (stride 352)', tiled);
  const whole = at1024.inference === 'whole image' ? at1024 : runChild(1024, 'whole');
  console.log(`  sliding window / whole image at ss 1024: ${(tiled.seconds / whole.seconds).toFixed(2)}× the time (goal < 1.3×)`);
  const at2048 = runChild(2048, 'auto');
  line('eval ss 2048', at2048);
  console.log(`  peak RSS ss 2048 / ss 1024: ${(at2048.peakRssMiB / at1024.peakRssMiB).toFixed(2)} (goal: within 10%)`);
}

await main();
