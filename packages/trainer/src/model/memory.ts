/**
 * How much memory a training step needs, estimated before it starts from the model variant, the
 * crop and the batch, so that a step that cannot fit is refused with the sizes that would fit
 * instead of aborting inside WebAssembly, whose heap never shrinks and stops at 4 GiB.
 *
 * Two estimates: a plain step's (every intermediate kept, estimatePlainStepBytes) and a recomputed
 * one's (estimateStepBytes); `recomputeFor` chooses between them (model.recompute).
 *
 * The recomputed estimate counts the float32 tensors a step with recomputed activations holds at its peak
 * (SegFormer.recomputeActivations): per output cell (one 1/4-resolution pixel of one image) the
 * inputs each recomputed segment keeps and the feature maps' gradients, plus the largest
 * transient (stage 1's feed-forward, its attention scores, which grow with the square of the crop,
 * or one band of the decoder and loss: the embeddings are never whole); then a factor measured on the WebAssembly backend
 * (train-memory-bench: B0 at 256×256 batch 2, 512×512 batch 2, 640×640 batch 1), which covers
 * the allocator's slack and the heap's growth steps.
 */
import type { SegFormerConfig } from './segformer.js';
import { OUTPUT_STRIDE, PATCH_STRIDES } from './segformer.js';
import { CHUNK_ELEMENTS } from './segformer-inference.js';

/** WebAssembly's 32-bit heap: 4 GiB. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30;
/** What a step may take of it: the rest is the weights' copies, the loader's batch and slack. */
export const WASM_STEP_BUDGET = 3.5 * 2 ** 30;

/**
 * Measured: heap bytes per counted byte, and the heap a step starts from. B0, 512-d, 238 labels,
 * the decoder and loss in bands (train-memory-bench, 2 steps): 512×512 batch 2 grew the heap to
 * 862 MiB (counted 345 MiB: 2.22), 640×640 batch 1 to 789 MiB (counted 381 MiB: 1.82); the factor
 * covers both with a margin for the heap's 20% growth steps.
 */
const MEASURED_FACTOR = 2.4;
const MEASURED_BASE = 96 * 2 ** 20;

/** Weights of a SegFormer configuration (as ParamStore builds them), without L_WD's projection. */
export function weightCount(config: SegFormerConfig): number {
  let total = 0;
  let inCh = 3;
  const patchKernels = [7, 3, 3, 3];
  for (let s = 0; s < 4; s++) {
    const ch = config.channels[s] as number;
    const k = patchKernels[s] as number;
    const sr = config.srRatios[s] as number;
    const hidden = ch * config.mlpRatio;
    total += k * k * inCh * ch + 3 * ch;
    const block = 4 * ch + 4 * (ch * ch + ch) + (sr > 1 ? sr * sr * ch * ch + 3 * ch : 0) + ch * hidden + hidden + 10 * hidden + hidden * ch + ch;
    total += (config.depths[s] as number) * block + 2 * ch + ch * config.decoderDim + config.decoderDim;
    inCh = ch;
  }
  return total + 4 * config.decoderDim * config.decoderDim + 3 * config.decoderDim + config.decoderDim * config.embedDim + config.embedDim + 1;
}

/** Counted float32 elements of a step's peak, batch × crop² pixels. */
function countedFloats(config: SegFormerConfig, crop: number, batch: number): number {
  const cells = batch * (crop / OUTPUT_STRIDE) ** 2;
  let kept = 0;
  let stride = 1;
  let transient = 0;
  for (let s = 0; s < 4; s++) {
    if (s > 0) stride *= PATCH_STRIDES[s] as number;
    const perCell = 1 / (stride * stride);
    const ch = config.channels[s] as number;
    // Each recomputed segment keeps its input (two per block, the patch embedding's and the stage
    // norm's), and the feature map has its gradient: about 2 · depth + 4 maps of the stage.
    kept += cells * perCell * ch * (2 * (config.depths[s] as number) + 4);
    // Recomputing one half-block: about 10 hidden-size tensors (forward and gradients; GELU's gradient goes in chunks) ...
    const ffn = 10 * cells * perCell * ch * config.mlpRatio;
    // ... or the attention scores (queries × reduced keys per head): seven of them with their gradients.
    const side = crop / (OUTPUT_STRIDE * stride);
    const sr = config.srRatios[s] as number;
    const attention = 7 * batch * (config.heads[s] as number) * side * side * Math.ceil(side / sr) ** 2;
    transient = Math.max(transient, ffn, attention);
  }
  // One band of the decoder, head and loss (losses/decoded-losses.ts: about 4 chunks of
  // intermediates), forward and backward; the embeddings are never whole.
  transient = Math.max(transient, 2 * 4 * CHUNK_ELEMENTS);
  // The per-pixel losses, their mask and gradient.
  const outputs = 4 * cells;
  // Weights, their gradients and AdamW's two slots.
  const weights = 4 * weightCount(config);
  return kept + transient + outputs + weights;
}

/** Estimated peak bytes of the WebAssembly heap for one training step (recomputed activations). */
export function estimateStepBytes(config: SegFormerConfig, crop: number, batch: number): number {
  // L_WD's slice and losses.resolution = label decode their embeddings (in bands, but whole once
  // made): room for the batch's embeddings and their gradient on top of what L_HD was measured at.
  const decoded = 2 * batch * (crop / OUTPUT_STRIDE) ** 2 * config.embedDim;
  return MEASURED_BASE + MEASURED_FACTOR * 4 * countedFloats(config, crop, batch) + 4 * decoded;
}

/**
 * Counted float32 elements of a plain step's peak (every intermediate kept): TensorFlow.js keeps
 * each tensor the forward pass makes until the step ends, and each gradient until the backward
 * pass ends, so the peak is about twice the forward pass's tensors. Per token of a block: about
 * 12 channel-size tensors in the attention half (layer norm 5, query, heads' layouts, output,
 * projection, residual) and 23 in the feed-forward half (layer norm 5, 4 × 4 hidden-size ones,
 * fc2, residual), plus three attention-score tensors; per output cell the decoder's four resized
 * projections, their sums, its norm (5) and the embeddings.
 */
function plainCountedFloats(config: SegFormerConfig, crop: number, batch: number): number {
  const cells = batch * (crop / OUTPUT_STRIDE) ** 2;
  let forward = 0;
  let stride = 1;
  for (let s = 0; s < 4; s++) {
    if (s > 0) stride *= PATCH_STRIDES[s] as number;
    const tokens = cells / (stride * stride);
    const ch = config.channels[s] as number;
    const side = crop / (OUTPUT_STRIDE * stride);
    const sr = config.srRatios[s] as number;
    const scores = 3 * batch * (config.heads[s] as number) * side * side * Math.ceil(side / sr) ** 2;
    forward += (config.depths[s] as number) * (tokens * (12 + 5 + 4 * config.mlpRatio + 2) * ch + scores) + tokens * 8 * ch;
  }
  forward += cells * (14 * config.decoderDim + 2 * config.embedDim);
  const chunks = 2 * (1 << 20);
  return 2 * forward + chunks + 4 * weightCount(config);
}

/**
 * Measured: heap bytes per counted byte of a plain step (train-memory-bench, RECOMPUTE=0, wasm,
 * 512-d, 238 labels): tiny 256×256 batch 4 grew the heap to 810 MiB (counted 451 MiB above the
 * base), B0 256×256 batch 2 to 1213 MiB (703), both 1.58; B0 384×384 batch 2, estimated 2704 MiB
 * with this factor, measured 2655 MiB.
 */
const PLAIN_MEASURED_FACTOR = 1.6;

/** Estimated peak bytes of the WebAssembly heap for one training step that keeps every intermediate. */
export function estimatePlainStepBytes(config: SegFormerConfig, crop: number, batch: number): number {
  return MEASURED_BASE + PLAIN_MEASURED_FACTOR * 4 * plainCountedFloats(config, crop, batch);
}

/** `model.recompute`: `auto` recomputes only a step whose plain estimate is over RECOMPUTE_ABOVE of the budget. */
export type RecomputeSetting = 'auto' | 'on' | 'off';
export const RECOMPUTE_SETTINGS: RecomputeSetting[] = ['auto', 'on', 'off'];

/**
 * The recompute rule, in one place: with `auto`, a step recomputes its activations
 * (SegFormer.recomputeActivations: less memory, about one more forward pass of time) only when
 * the plain step's estimated heap is over this fraction of WASM_STEP_BUDGET; a step under it keeps
 * its activations and runs at full speed. The margin covers the estimate's error.
 */
export const RECOMPUTE_ABOVE = 0.75;

/** Whether a step recomputes its activations under `setting` (a pure function of the sizes). */
export function recomputeFor(config: SegFormerConfig, crop: number, batch: number, setting: RecomputeSetting = 'auto'): boolean {
  if (setting !== 'auto') return setting === 'on';
  return estimatePlainStepBytes(config, crop, batch) > RECOMPUTE_ABOVE * WASM_STEP_BUDGET;
}

/** The estimated peak of a step in the chosen mode. */
export function stepBytesFor(config: SegFormerConfig, crop: number, batch: number, recomputing: boolean): number {
  return recomputing ? estimateStepBytes(config, crop, batch) : estimatePlainStepBytes(config, crop, batch);
}

/** The largest batch at `crop`, and the largest crop (a multiple of `multiple`) at `batch`, whose step fits `budget`. */
export function whatFits(config: SegFormerConfig, crop: number, batch: number, budget: number, multiple: number, estimate = estimateStepBytes): { batch: number; crop: number } {
  let b = batch;
  while (b > 0 && estimate(config, crop, b) > budget) b--;
  let c = crop;
  while (c > multiple && estimate(config, c, batch) > budget) c -= multiple;
  if (estimate(config, c, batch) > budget) c = 0;
  return { batch: b, crop: c };
}

export const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MiB`;

/**
 * Null when a step of `batch` images at `crop` fits the WebAssembly heap; else one line saying
 * what it would need and what would fit (for TrainerError: exit 2 before any work). `off`
 * (model.recompute=off) is judged by the plain step's estimate, `auto` and `on` by the
 * recomputed one's (auto recomputes whatever the plain step cannot hold).
 */
export function refuseOversizedStep(config: SegFormerConfig, crop: number, batch: number, multiple: number, setting: RecomputeSetting = 'auto'): string | null {
  const estimate = setting === 'off' ? estimatePlainStepBytes : estimateStepBytes;
  const need = estimate(config, crop, batch);
  if (need <= WASM_STEP_BUDGET) return null;
  const fits = whatFits(config, crop, batch, WASM_STEP_BUDGET, multiple, estimate);
  const options = [
    ...(fits.batch > 0 ? [`data.batchSize ${fits.batch} at this crop`] : []),
    ...(fits.crop > 0 ? [`data.crop ${fits.crop} at batch ${batch}`] : []),
  ];
  const suggestion = options.length > 0 ? `what fits: ${options.join(', or ')}` : 'no batch fits at this crop: lower data.crop';
  const kept = setting === 'off' ? ' keeping every activation (model.recompute=off)' : '';
  const other = setting === 'off' ? 'model.recompute=auto, or --backend tensorflow' : '--backend tensorflow';
  return `a training step of SegFormer-${config.variant} at data.crop ${crop} with data.batchSize ${batch}${kept} needs about ${mib(need)} of WebAssembly memory, over the ${mib(WASM_STEP_BUDGET)} a step may take of its ${mib(WASM_HEAP_LIMIT)} heap; ${suggestion} (or ${other})`;
}
