/**
 * Inference: the class of every pixel of an image at its own resolution, from one or several
 * scales (short edge resized to each), optionally with the horizontally flipped image too; the
 * values (softmax probabilities, or cosine similarities) of all passes are averaged.
 *
 * Memory is bounded whatever the image size. A pass whose padded input fits the model's pixel
 * budget runs whole; a larger one runs as a sliding window (mmseg's slide inference): tiles of
 * `window`² with a stride of 2/3 of it, their values averaged where they overlap. The passes of a
 * multi-scale (or flipped) run hold their values together, within one bound that does not grow
 * with the image (`planPasses`): where they would exceed it, they share smaller windows. Each forward
 * pass keeps only one block's intermediates (model/segformer-inference.ts), the class values are
 * computed band by band at 1/4 resolution, and the upsampling to the image and the arg-max go band
 * by band of output rows (eval/resample.ts).
 */
import sharp from 'sharp';
import { PIXEL_MEAN, PIXEL_STD } from '../data/augment.js';
import { TrainerError } from '../errors.js';
import { cosineLogits } from '../losses/cosine.js';
import { decodeRows, decoderBandRows, encoderFeatures } from '../model/segformer-inference.js';
import { INPUT_MULTIPLE, OUTPUT_STRIDE, type SegFormer } from '../model/segformer.js';
import { tf, type Tensor } from '../tf.js';
import { argmaxRows, firstRowStillRead, gridToImageTaps, resampleBand, type GridPass } from './resample.js';

export interface InferOptions {
  /** Short edges to resize to; one = single scale. */
  scales: number[];
  flip: boolean;
  /** What to average: softmax probabilities (default) or the raw cosine similarities. */
  output?: 'probabilities' | 'cosine';
  /**
   * Sliding window: tiles of this size (a multiple of 32) with a stride of 2/3 of it wherever the
   * resized image is larger. Absent: whole-image where it fits `maxPixels`, windows where not.
   */
  window?: number;
  /** Most (padded) pixels one forward pass may take; default `defaultMaxPixels(model)`. */
  maxPixels?: number;
  /**
   * Keep every pass's class values so that `Segmentation.planes` can read them (predict --scores).
   * Without it they are released as the arg-max proceeds, which bounds a sliding window's memory.
   */
  keepValues?: boolean;
}

export interface DecodedImage {
  width: number;
  height: number;
  /** RGB bytes, width × height × 3. */
  rgb: Uint8Array;
}

export async function decodeImage(file: string): Promise<DecodedImage> {
  const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** The image resized so its short edge is `shortEdge` (bytes; normalised tile by tile). */
async function resized(image: DecodedImage, shortEdge: number): Promise<DecodedImage> {
  const scale = shortEdge / Math.min(image.width, image.height);
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  if (width === image.width && height === image.height) return image;
  const rgb = new Uint8Array(await sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } }).resize(width, height, { fit: 'fill' }).raw().toBuffer());
  return { width, height, rgb };
}

/** Window starts along one axis: 0, stride, …, and the last flush with the end. */
export function windowStarts(size: number, window: number, stride: number): number[] {
  if (size <= window) return [0];
  const starts: number[] = [];
  for (let s = 0; s + window < size; s += stride) starts.push(s);
  starts.push(size - window);
  return starts;
}

const roundUp32 = (n: number) => Math.ceil(n / INPUT_MULTIPLE) * INPUT_MULTIPLE;

/**
 * Pixels one forward pass may take by default: its peak (the stage-1 feed-forward's hidden maps
 * and the tokens around them, the input) kept near 256 MiB of the WebAssembly heap, whose ceiling
 * is 4 GiB and which never shrinks once grown: 1.77 MP for `tiny` (measured: 173 MiB of heap for a
 * whole 1.4 MP pass), 0.96 MP for MiT-B0.
 */
export function defaultMaxPixels(model: Pick<SegFormer, 'config'>): number {
  const c = model.config;
  const hidden = (c.channels[0] as number) * c.mlpRatio;
  // Per pixel: 1/16 of a stage-1 token, ~6 hidden-size and ~8 channel-size float32 arrays alive, plus the input.
  const bytesPerPixel = ((6 * hidden + 8 * (c.channels[0] as number)) * 4) / 16 + 24;
  return Math.floor((256 * 2 ** 20) / bytesPerPixel);
}

/** A --window value: a multiple of 32 (the model's coarsest stride), or absent. */
export function checkWindow(window: number | undefined): void {
  if (window !== undefined && !(Number.isInteger(window) && window >= INPUT_MULTIPLE && window % INPUT_MULTIPLE === 0)) {
    throw new TrainerError(`--window takes a multiple of ${INPUT_MULTIPLE} (the model's coarsest stride), at least ${INPUT_MULTIPLE}; got ${Number.isNaN(window) ? 'a value that is not a number' : window}`);
  }
}

/** The window a pass uses, or null for whole-image. */
export interface PassPlan {
  scale: number;
  flipped: boolean;
  /** The resized image. */
  width: number;
  height: number;
  window: number | null;
  stride: number | null;
  tiles: number;
}

/**
 * The largest automatic window (mmseg's slide crop for Cityscapes): stage-1 attention costs the
 * square of a pass's pixels, so tiles much larger than this are slower per pixel, and heavier,
 * than more tiles of this size (npm run bench: 12 tiles of 512 at short edge 1024 took 0.44× the
 * time of the whole 1.4 MP image).
 */
export const AUTO_WINDOW = 1024;

/**
 * How a pass of a `width` × `height` resized image runs: whole where it fits, else windows of the
 * largest multiple of 32 within the budget, at most AUTO_WINDOW, and small enough that a row of
 * tiles (window / 4 grid rows across the padded width, the values a windowed pass holds) has no
 * more grid cells than the largest whole-image pass: a wider image gets shorter windows, not more
 * memory.
 */
export function planPass(width: number, height: number, options: Pick<InferOptions, 'window'>, maxPixels: number): { window: number | null; stride: number | null; tiles: number } {
  const paddedH = roundUp32(height);
  const paddedW = roundUp32(width);
  let window = options.window ?? null;
  checkWindow(options.window);
  if (window === null && paddedH * paddedW > maxPixels) {
    const byArea = Math.sqrt(maxPixels);
    const byRowOfTiles = maxPixels / paddedW;
    window = Math.max(2 * INPUT_MULTIPLE, Math.min(AUTO_WINDOW, Math.floor(Math.min(byArea, byRowOfTiles) / INPUT_MULTIPLE) * INPUT_MULTIPLE));
  }
  if (window === null || (paddedH <= window && paddedW <= window)) return { window: null, stride: null, tiles: 1 };
  const stride = Math.max(INPUT_MULTIPLE, Math.round((2 * window) / 3 / INPUT_MULTIPLE) * INPUT_MULTIPLE);
  const tiles = windowStarts(paddedH, Math.min(window, paddedH), stride).length * windowStarts(paddedW, Math.min(window, paddedW), stride).length;
  return { window, stride, tiles };
}

/** Grid cells (of K values each) a pass with this plan holds at once: its whole grid, or one row of tiles. */
export function heldCells(width: number, height: number, plan: { window: number | null }): number {
  const paddedH = roundUp32(height);
  const gridW = roundUp32(width) / OUTPUT_STRIDE;
  return (plan.window === null ? paddedH : Math.min(plan.window, paddedH)) / OUTPUT_STRIDE * gridW;
}

/**
 * How the passes of one image run together (multi-scale, flip). The passes are averaged band by
 * band of output rows, so all of them hold their values at once: together they may hold no more
 * grid cells than they would on an image whose largest pass just fits the pixel budget whole,
 * `maxPixels` / 16 × Σ (scale / largest scale)² — a bound that does not grow with the image. Each
 * pass is first planned alone (`planPass`); where those plans together hold more, every pass runs
 * as windows no larger than one shared size, the largest multiple of 32 within the bound (a pass
 * that fits in that size runs whole). A single pass, or passes that are all whole, plan as alone;
 * so does an explicit `window`. Sizes are the resized images', one entry a pass.
 */
export function planPasses(passes: { scale: number; width: number; height: number }[], options: Pick<InferOptions, 'window'>, maxPixels: number): { window: number | null; stride: number | null; tiles: number }[] {
  const alone = passes.map((p) => planPass(p.width, p.height, options, maxPixels));
  if (options.window !== undefined || passes.length < 2) return alone;
  const largest = Math.max(...passes.map((p) => p.scale));
  const bound = (maxPixels / (OUTPUT_STRIDE * OUTPUT_STRIDE)) * passes.reduce((sum, p) => sum + (p.scale / largest) ** 2, 0);
  const held = (plans: { window: number | null }[]) => plans.reduce((sum, plan, i) => sum + heldCells((passes[i] as { width: number }).width, (passes[i] as { height: number }).height, plan), 0);
  if (held(alone) <= bound) return alone;
  const largestWindow = Math.max(2 * INPUT_MULTIPLE, Math.floor(Math.min(AUTO_WINDOW, Math.sqrt(maxPixels)) / INPUT_MULTIPLE) * INPUT_MULTIPLE);
  let plans = alone;
  for (let shared = largestWindow; shared >= 2 * INPUT_MULTIPLE; shared -= INPUT_MULTIPLE) {
    plans = passes.map((p, i) => planPass(p.width, p.height, { window: Math.min(shared, (alone[i] as { window: number | null }).window ?? shared) }, maxPixels));
    if (held(plans) <= bound) break;
  }
  return plans;
}

/** Normalised pixels [th, tw, 3] of the resized image (mirrored for a flipped pass) from (top, left), zero (the mean colour) beyond it. */
function tilePixels(input: DecodedImage, top: number, left: number, th: number, tw: number, flipped: boolean, out: Float32Array): Float32Array {
  out.fill(0);
  const mean = PIXEL_MEAN as readonly number[];
  const std = PIXEL_STD as readonly number[];
  for (let y = 0; y < th && top + y < input.height; y++) {
    const row = (top + y) * input.width;
    for (let x = 0; x < tw && left + x < input.width; x++) {
      // A flipped pass reads the mirrored image: column c of it is column width − 1 − c.
      const src = 3 * (row + (flipped ? input.width - 1 - (left + x) : left + x));
      const dst = 3 * (y * tw + x);
      for (let c = 0; c < 3; c++) out[dst + c] = ((input.rgb[src + c] as number) - (mean[c] as number)) / (std[c] as number);
    }
  }
  return out;
}

/**
 * Class values of one tile: `emit(r0, r1, values)` for bands of its rows at 1/4 resolution, values
 * [(r1 − r0), tileWidth / 4, K].
 */
export type TileValues = (pixels: Float32Array, height: number, width: number, emit: (r0: number, r1: number, values: Float32Array) => void) => void;

/** The model's tile values: the lean forward pass, then the cosine (or softmax) band by band of decoder rows. */
export function modelTileValues(model: SegFormer, classEmb: Tensor, output: 'probabilities' | 'cosine'): TileValues {
  const k = classEmb.shape[0] as number;
  return (pixels, th, tw, emit) => {
    const x = tf.tensor4d(pixels, [1, th, tw, 3]);
    const features = encoderFeatures(model, x);
    x.dispose();
    try {
      const tileH = th / OUTPUT_STRIDE;
      const band = decoderBandRows(model, tw / OUTPUT_STRIDE, k);
      for (let r0 = 0; r0 < tileH; r0 += band) {
        const r1 = Math.min(tileH, r0 + band);
        const data = tf.tidy(() => {
          const emb = decodeRows(model, features, r0, r1);
          const logits = cosineLogits(emb, classEmb, model.logTau);
          return output === 'cosine' ? tf.mul(logits, tf.exp(model.logTau)) : tf.softmax(logits);
        });
        const values = data.dataSync() as Float32Array;
        data.dispose();
        emit(r0, r1, values);
      }
    } finally {
      tf.dispose(features);
    }
  };
}

/**
 * The class values [gridH, gridW, K] of one pass at 1/4 of its 32-padded resized size, made row of
 * tiles by row of tiles as they are read: the tile function on the whole padded image, or on tiles
 * (sliding window) averaged where they overlap. A grid row is final once the last row of tiles
 * that covers it has run; rows read for the last time are released, so that a windowed pass keeps
 * about one row of tiles' values (window / 4 rows) alive, not the whole grid.
 */
export class PassRows {
  readonly gridH: number;
  readonly gridW: number;
  private readonly th: number;
  private readonly tw: number;
  private readonly tops: number[];
  private readonly lefts: number[];
  private readonly rowCount: Float32Array;
  private readonly colCount: Float32Array;
  private readonly data: (Float32Array | null)[];
  /** Rows of tiles run so far. */
  private ran = 0;
  /** Grid rows below this are final. */
  private finalRows = 0;
  /** Grid rows below this are released. */
  private releasedRows = 0;
  /**
   * Released rows' arrays, reused for the next rows, and the one tile-pixel array of the pass:
   * allocating afresh would leave the process's native heap fragmented and its RSS growing tile
   * after tile (measured: +60 MiB over the 12 tiles of short edge 2048).
   */
  private readonly spare: Float32Array[] = [];
  private pixels: Float32Array | null = null;

  constructor(
    private readonly input: DecodedImage,
    private readonly k: number,
    private readonly flipped: boolean,
    plan: { window: number | null; stride: number | null },
    private readonly tileValues: TileValues,
  ) {
    const paddedH = roundUp32(input.height);
    const paddedW = roundUp32(input.width);
    this.gridH = paddedH / OUTPUT_STRIDE;
    this.gridW = paddedW / OUTPUT_STRIDE;
    this.th = plan.window === null ? paddedH : Math.min(plan.window, paddedH);
    this.tw = plan.window === null ? paddedW : Math.min(plan.window, paddedW);
    const stride = plan.stride ?? this.th;
    this.tops = windowStarts(paddedH, this.th, stride);
    this.lefts = windowStarts(paddedW, this.tw, stride);
    this.rowCount = new Float32Array(this.gridH);
    this.colCount = new Float32Array(this.gridW);
    for (const top of this.tops) for (let r = 0; r < this.th / OUTPUT_STRIDE; r++) this.rowCount[top / OUTPUT_STRIDE + r] = (this.rowCount[top / OUTPUT_STRIDE + r] as number) + 1;
    for (const left of this.lefts) for (let c = 0; c < this.tw / OUTPUT_STRIDE; c++) this.colCount[left / OUTPUT_STRIDE + c] = (this.colCount[left / OUTPUT_STRIDE + c] as number) + 1;
    this.data = new Array<Float32Array | null>(this.gridH).fill(null);
  }

  /** Grid rows whose values are held now. */
  get heldRows(): number {
    return this.data.reduce((n, d) => n + (d ? 1 : 0), 0);
  }

  /** Grid row `r`'s values [gridW, K], running rows of tiles until it is final. */
  row(r: number): Float32Array {
    if (r < this.releasedRows) throw new TrainerError(`grid row ${r} of a pass was read after its release (internal error)`);
    while (r >= this.finalRows) this.runTileRow();
    return this.data[r] as Float32Array;
  }

  /** Frees the grid rows below `r`: nothing will read them again. */
  release(r: number): void {
    for (; this.releasedRows < Math.min(r, this.gridH); this.releasedRows++) {
      const values = this.data[this.releasedRows];
      if (values) this.spare.push(values);
      this.data[this.releasedRows] = null;
    }
  }

  private runTileRow(): void {
    const top = this.tops[this.ran] as number;
    this.ran += 1;
    const { k, th, tw, gridW } = this;
    const rowLen = gridW * k;
    const top4 = top / OUTPUT_STRIDE;
    // Rows not yet held: released rows' arrays first, then one block for the rest (one array for a whole-image pass).
    const missing: number[] = [];
    for (let r = top4; r < top4 + th / OUTPUT_STRIDE; r++) if (!this.data[r]) missing.push(r);
    const block = missing.length > this.spare.length ? new Float32Array((missing.length - this.spare.length) * rowLen) : null;
    let fresh = 0;
    for (const r of missing) {
      const reused = this.spare.pop();
      this.data[r] = reused ? reused.fill(0) : (block as Float32Array).subarray(fresh * rowLen, ++fresh * rowLen);
    }
    const tileW = tw / OUTPUT_STRIDE;
    const pixels = (this.pixels ??= new Float32Array(th * tw * 3));
    for (const left of this.lefts) {
      this.tileValues(tilePixels(this.input, top, left, th, tw, this.flipped, pixels), th, tw, (r0, r1, band) => {
        for (let r = r0; r < r1; r++) {
          const values = this.data[top4 + r] as Float32Array;
          const dst = (left / OUTPUT_STRIDE) * k;
          const src = (r - r0) * tileW * k;
          for (let e = 0; e < tileW * k; e++) values[dst + e] = (values[dst + e] as number) + (band[src + e] as number);
        }
      });
    }
    const finalRows = this.ran < this.tops.length ? (this.tops[this.ran] as number) / OUTPUT_STRIDE : this.gridH;
    if (this.tops.length > 1 || this.lefts.length > 1) {
      for (let r = this.finalRows; r < finalRows; r++) {
        const values = this.data[r] as Float32Array;
        for (let c = 0; c < gridW; c++) {
          const n = (this.rowCount[r] as number) * (this.colCount[c] as number);
          for (let e = c * k; e < (c + 1) * k; e++) values[e] = (values[e] as number) / n;
        }
      }
    }
    this.finalRows = finalRows;
    if (this.ran === this.tops.length) {
      this.pixels = null;
      this.spare.length = 0;
    }
  }
}

/** The whole grid [gridH, gridW, K] of one pass (`PassRows` read to the end; for tests). */
export function passGrid(input: DecodedImage, k: number, flipped: boolean, plan: { window: number | null; stride: number | null }, tileValues: TileValues): { values: Float32Array; gridH: number; gridW: number } {
  const rows = new PassRows(input, k, flipped, plan, tileValues);
  const values = new Float32Array(rows.gridH * rows.gridW * k);
  for (let r = 0; r < rows.gridH; r++) values.set(rows.row(r), r * rows.gridW * k);
  return { values, gridH: rows.gridH, gridW: rows.gridW };
}

/** Rows of output per band of the final resampling: about 2^22 float32 values a band. */
const bandRows = (width: number, k: number) => Math.max(1, Math.floor((1 << 22) / (width * k)));

/** The result of `segment`: the class of every pixel, and the values of chosen classes on demand. */
export interface Segmentation {
  width: number;
  height: number;
  /** Arg-max class index per pixel, row-major. */
  classes: Int32Array;
  passes: PassPlan[];
  /**
   * The averaged values of the given classes, [n, height, width] (plane by plane). Only with
   * `keepValues` (the passes' values are otherwise released as the arg-max proceeds).
   */
  planes(indices: number[]): Float32Array;
}

/**
 * Segments an image among the K classes whose embeddings are `classEmb` [K, D], at the image's own
 * resolution. The passes run as the band-by-band resampling reads their grid rows, and rows read
 * for the last time are released: a windowed pass holds about one row of tiles' values at a time.
 */
export async function segment(model: SegFormer, image: DecodedImage, classEmb: Tensor, options: InferOptions): Promise<Segmentation> {
  const k = classEmb.shape[0] as number;
  const output = options.output ?? 'probabilities';
  const maxPixels = options.maxPixels ?? defaultMaxPixels(model);
  const keep = options.keepValues ?? false;
  const tileValues = modelTileValues(model, classEmb, output);
  const { width, height } = image;
  const passes: (GridPass & { source: PassRows; firstRead: Int32Array })[] = [];
  const plans: PassPlan[] = [];
  const inputs: { scale: number; input: DecodedImage; flipped: boolean }[] = [];
  for (const scale of options.scales) {
    const input = await resized(image, scale);
    for (const flipped of options.flip ? [false, true] : [false]) inputs.push({ scale, input, flipped });
  }
  const planned = planPasses(inputs.map(({ scale, input }) => ({ scale, width: input.width, height: input.height })), options, maxPixels);
  for (const [i, { scale, input, flipped }] of inputs.entries()) {
    const plan = planned[i] as { window: number | null; stride: number | null; tiles: number };
    const source = new PassRows(input, k, flipped, plan, tileValues);
    const rows = gridToImageTaps(source.gridH, input.height, height, false);
    passes.push({
      source,
      row: (r) => source.row(r),
      gridW: source.gridW,
      rows,
      cols: gridToImageTaps(source.gridW, input.width, width, flipped),
      firstRead: firstRowStillRead(rows, height, source.gridH),
    });
    plans.push({ scale, flipped, width: input.width, height: input.height, ...plan });
  }
  const classes = new Int32Array(width * height);
  const maxGridW = Math.max(...passes.map((p) => p.gridW));
  const resampleAll = (grids: GridPass[], kk: number, each: (y0: number, y1: number, band: Float32Array) => void, done?: (y1: number) => void) => {
    const rows = bandRows(width, kk);
    const band = new Float32Array(rows * width * kk);
    const scratch = new Float32Array(rows * maxGridW * kk);
    for (let y0 = 0; y0 < height; y0 += rows) {
      const y1 = Math.min(height, y0 + rows);
      resampleBand(grids, kk, width, y0, y1, band, scratch);
      each(y0, y1, band);
      done?.(y1);
    }
  };
  resampleAll(
    passes,
    k,
    (y0, y1, band) => argmaxRows(band, k, (y1 - y0) * width, classes, y0 * width),
    keep ? undefined : (y1) => {
      for (const p of passes) p.source.release(p.firstRead[y1] as number);
    },
  );
  return {
    width,
    height,
    classes,
    passes: plans,
    planes(indices: number[]): Float32Array {
      if (!keep) throw new TrainerError('the class values of this segmentation were released; segment with keepValues to read planes (internal error)');
      const n = indices.length;
      const out = new Float32Array(n * width * height);
      if (n === 0) return out;
      const picked = passes.map((p): GridPass => {
        const gridH = p.source.gridH;
        const values = new Float32Array(gridH * p.gridW * n);
        for (let r = 0; r < gridH; r++) {
          const row = p.row(r);
          for (let c = 0; c < p.gridW; c++) for (let i = 0; i < n; i++) values[(r * p.gridW + c) * n + i] = row[c * k + (indices[i] as number)] as number;
        }
        return { ...p, row: (r) => values.subarray(r * p.gridW * n, (r + 1) * p.gridW * n) };
      });
      resampleAll(picked, n, (y0, y1, band) => {
        for (let p = 0; p < (y1 - y0) * width; p++) for (let i = 0; i < n; i++) out[i * width * height + y0 * width + p] = (band[p * n + i] as number) / picked.length;
      });
      return out;
    },
  };
}

/** In words: how the passes of one image ran ("whole image", "sliding window 1472, stride 992, 6 tiles"). */
export function describePasses(passes: PassPlan[]): string {
  const windowed = passes.filter((p) => p.window !== null);
  if (windowed.length === 0) return 'whole image';
  const parts = [...new Set(windowed.map((p) => `sliding window ${p.window}, stride ${p.stride}, ${p.tiles} tiles at ${p.width}×${p.height}`))];
  return `${parts.join('; ')}${windowed.length < passes.length ? '; other scales whole' : ''}`;
}

/** The error of a WebAssembly backend that aborted: its memory is gone and nothing more can run on it. */
export function isBackendAbort(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  // WebAssembly.RuntimeError: the global has no type here (no DOM lib), its name says it.
  return (err instanceof Error && err.name === 'RuntimeError') || /Aborted\(|memory access out of bounds/.test(message);
}
