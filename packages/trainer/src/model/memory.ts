/**
 * How much memory a training step needs, estimated before it starts from the model variant, the
 * crop and the batch, so that a step that cannot fit is refused with the sizes that would fit
 * instead of aborting inside WebAssembly, whose heap never shrinks and stops at 4 GiB.
 *
 * Three estimates, one per RecomputeMode: a plain step's (every activation kept,
 * estimatePlainStepBytes), one that recomputes its encoder and keeps its decoder
 * (estimateEncoderStepBytes) and a fully recomputed one's (estimateStepBytes); `recomputeFor`
 * chooses (model.recompute). Each counts the float32 tensors the step holds at its peak under
 * back-propagation that frees as it goes (backprop.ts), times a factor measured on the
 * WebAssembly backend (train-memory-bench: tiny, B0 and B1 at 256² to 640²), which covers the
 * allocator's slack, fragmentation and the heap's growth steps.
 */
import type { SegFormerConfig } from './segformer.js';
import { OUTPUT_STRIDE, PATCH_STRIDES } from './segformer.js';
import { CHUNK_ELEMENTS } from './segformer-inference.js';

/** WebAssembly's 32-bit heap: 4 GiB. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30;
/** What a step may take of it: the rest is the weights' copies, the loader's batch and slack. */
export const WASM_STEP_BUDGET = 3.5 * 2 ** 30;

/**
 * Measured (train-memory-bench, wasm, 512-d, 238 labels, 3 steps; the heap stops growing after
 * the second): heap bytes per counted byte of a fully recomputed step, and the heap a step starts
 * from. B0 256×256 batch 2, 384×384 batch 2, 512×512 batch 2, 640×640 batch 1 and 2 grew the heap
 * to 298, 350, 549, 549 and 917 MiB (estimates 1.5–2.5 times that), B1 512×512 batch 1 to 884 MiB
 * (1.70 times). Calibrated while the optimizer held every weight's temporaries to the end of its
 * update (B1: 1,433 MiB); since it frees them the factor is more cautious than it need be.
 */
const MEASURED_FACTOR = 3.1;
const MEASURED_BASE = 96 * 2 ** 20;
/**
 * Measured: heap bytes per counted byte of what a kept decoder adds (the encoder-recomputed step
 * over the fully recomputed one, same sizes, 3 steps each). With the recomputed step's own margin
 * every encoder-mode heap measured is covered: tiny 256² batch 4 122 MiB, B0 256² batch 2 to 640²
 * batch 2 298–1,061 MiB (estimates 1.9–3.0 times), B1 512² batch 1 888 MiB (1.93 times).
 */
const DECODER_KEPT_FACTOR = 1.2;

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

/**
 * The encoder's part of a step whose encoder is recomputed, in float32 elements: what it keeps
 * between the passes, and the largest transient of recomputing one of its segments.
 */
function recomputedEncoderFloats(config: SegFormerConfig, crop: number, batch: number): { kept: number; transient: number } {
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
  return { kept, transient };
}

/** Per-pixel losses, their mask and gradient; the weights, their gradients and AdamW's two slots. */
function fixedFloats(config: SegFormerConfig, crop: number, batch: number): number {
  return 4 * batch * (crop / OUTPUT_STRIDE) ** 2 + 4 * weightCount(config);
}

/** Counted float32 elements of a fully recomputed step's peak (model.recompute=on). */
function countedFloats(config: SegFormerConfig, crop: number, batch: number): number {
  const { kept, transient } = recomputedEncoderFloats(config, crop, batch);
  // One band of the decoder, head and loss (losses/decoded-losses.ts: about 4 chunks of
  // intermediates), forward and backward; the embeddings are never whole.
  return kept + Math.max(transient, 2 * 4 * CHUNK_ELEMENTS) + fixedFloats(config, crop, batch);
}

/**
 * Counted float32 elements that a kept decoder adds to a recomputed encoder's step
 * (model.recompute=encoder): per output cell what the decoder saves for its gradients (the fused
 * map, its norm and activation, about 5 decoder-size tensors; the embeddings, their chunks for the
 * loss and their gradient, 3 embedding-size ones).
 */
function keptDecoderFloats(config: SegFormerConfig, crop: number, batch: number): number {
  return batch * (crop / OUTPUT_STRIDE) ** 2 * (5 * config.decoderDim + 3 * config.embedDim);
}

/** Estimated peak bytes of the WebAssembly heap for one training step (recomputed activations). */
export function estimateStepBytes(config: SegFormerConfig, crop: number, batch: number): number {
  // L_WD's slice and losses.resolution = label decode their embeddings (in bands, but whole once
  // made): room for the batch's embeddings and their gradient on top of what L_HD was measured at.
  const decoded = 2 * batch * (crop / OUTPUT_STRIDE) ** 2 * config.embedDim;
  return MEASURED_BASE + MEASURED_FACTOR * 4 * countedFloats(config, crop, batch) + 4 * decoded;
}

/** Estimated peak bytes of the WebAssembly heap for a step that recomputes its encoder and keeps its decoder. */
export function estimateEncoderStepBytes(config: SegFormerConfig, crop: number, batch: number): number {
  return estimateStepBytes(config, crop, batch) + DECODER_KEPT_FACTOR * 4 * keptDecoderFloats(config, crop, batch);
}

/**
 * Counted float32 elements of a plain step's peak (every activation kept): about the forward
 * pass's tensors (what no gradient saves is freed as each segment ends, a gradient once it is
 * used: backprop.ts). Per token of a block: about
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
  return forward + chunks + 4 * weightCount(config);
}

/**
 * Measured: heap bytes per counted byte of a plain step (RECOMPUTE=off, wasm, 512-d, 238 labels,
 * 3 steps each): tiny 256×256 batch 4, B0 256×256 batch 2, 384×384 batch 2, 512×512 batch 2,
 * 640×640 batch 1 and 2, and B1 512×512 batch 1 grew the heap to 172, 358, 715, 1,241, 1,135,
 * 2,186 and 1,242 MiB; with this factor the estimates are 1.44 (B1) to 2.32 (tiny) times those.
 */
const PLAIN_MEASURED_FACTOR = 1.3;

/** Estimated peak bytes of the WebAssembly heap for one training step that keeps every intermediate. */
export function estimatePlainStepBytes(config: SegFormerConfig, crop: number, batch: number): number {
  return MEASURED_BASE + PLAIN_MEASURED_FACTOR * 4 * plainCountedFloats(config, crop, batch);
}

/**
 * What a step recomputes in its backward pass instead of keeping (SegFormer.recomputeActivations,
 * SegFormer.decoderInBands): `off` nothing (every activation kept: fastest, most memory);
 * `encoder` the encoder's segments, the decoder and loss kept whole; `on` the encoder, and the
 * decoder, head and loss as recomputed bands of rows (least memory, slowest).
 */
export type RecomputeMode = 'off' | 'encoder' | 'on';
/** `model.recompute`: a mode, or `auto` (recomputeFor). */
export type RecomputeSetting = 'auto' | RecomputeMode;
export const RECOMPUTE_SETTINGS: RecomputeSetting[] = ['auto', 'off', 'encoder', 'on'];

/**
 * The recompute rule, in one place. With `auto` a step keeps every activation while the estimate
 * of that is at most KEEP_ALL_BELOW, recomputes the encoder while its estimate fits the budget,
 * and recomputes everything beyond. Measured on wasm (train-memory-bench, B0, 512-d, 238 labels,
 * one thread; the table in packages/trainer/README.md): at 256×256 batch 2 all three modes
 * peaked at 429 MiB of heap, keeping everything the fastest (1.63 s/step, `encoder` 1.75, `on`
 * 2.63); at 512×512 batch 2 keeping everything took 5.27 s/step and 1,369 MiB, recomputing the
 * encoder 6.19 s and 757 MiB, recomputing the decoder in bands too 12.04 s and 606 MiB.
 */
export const KEEP_ALL_BELOW = 2 ** 30;

/** Whether and what a step recomputes under `setting` (a pure function of the sizes). */
export function recomputeFor(config: SegFormerConfig, crop: number, batch: number, setting: RecomputeSetting = 'auto'): RecomputeMode {
  if (setting !== 'auto') return setting;
  if (estimatePlainStepBytes(config, crop, batch) <= KEEP_ALL_BELOW) return 'off';
  return estimateEncoderStepBytes(config, crop, batch) <= WASM_STEP_BUDGET ? 'encoder' : 'on';
}

/** Sets what `model` recomputes for `mode`. */
export function applyRecompute(model: { recomputeActivations: boolean; decoderInBands: boolean }, mode: RecomputeMode): void {
  model.recomputeActivations = mode !== 'off';
  model.decoderInBands = mode === 'on';
}

/** The estimate of a step's peak heap in `mode`. */
export function estimatorFor(mode: RecomputeMode): (config: SegFormerConfig, crop: number, batch: number) => number {
  return mode === 'off' ? estimatePlainStepBytes : mode === 'encoder' ? estimateEncoderStepBytes : estimateStepBytes;
}

/** The estimated peak of a step in `mode`. */
export function stepBytesFor(config: SegFormerConfig, crop: number, batch: number, mode: RecomputeMode): number {
  return estimatorFor(mode)(config, crop, batch);
}

/** In words, for the trainer's log and the benches. */
export function describeRecompute(mode: RecomputeMode): string {
  if (mode === 'off') return 'every activation kept (full speed)';
  if (mode === 'encoder') return "the encoder's activations recomputed in the backward pass, the decoder's kept";
  return 'all activations recomputed in the backward pass, the decoder and loss in bands (least memory, slowest)';
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
 * what it would need and what would fit (for TrainerError: exit 2 before any work). A mode is
 * judged by its own estimate; `auto` by `on`'s (auto recomputes whatever the other modes cannot hold).
 */
export function refuseOversizedStep(config: SegFormerConfig, crop: number, batch: number, multiple: number, setting: RecomputeSetting = 'auto', threads: 1 | 2 = 1): string | null {
  const estimate = estimatorFor(setting === 'auto' ? 'on' : setting);
  // With two threads each heap holds its half of the batch (parallel-step.ts).
  const perHeap = Math.ceil(batch / threads);
  const need = estimate(config, crop, perHeap);
  if (need <= WASM_STEP_BUDGET) return null;
  const fits = whatFits(config, crop, perHeap, WASM_STEP_BUDGET, multiple, estimate);
  const options = [
    ...(fits.batch > 0 ? [`data.batchSize ${fits.batch * threads} at this crop`] : []),
    ...(fits.crop > 0 ? [`data.crop ${fits.crop} at batch ${batch}`] : []),
  ];
  const smallest = estimate(config, multiple, 1);
  const suggestion =
    options.length > 0
      ? `what fits: ${options.join(', or ')}`
      : smallest > WASM_STEP_BUDGET
        ? `no size fits: even data.crop ${multiple} at batch 1 needs about ${mib(smallest)} (the weights, their gradients and the optimizer's state)`
        : 'no batch fits at this crop: lower data.crop';
  const kept = setting === 'off' ? ' keeping every activation (model.recompute=off)' : setting === 'encoder' ? " keeping the decoder's activations (model.recompute=encoder)" : ' even with every activation recomputed';
  const other = setting === 'off' || setting === 'encoder' ? 'model.recompute=auto, or --backend tensorflow' : '--backend tensorflow';
  const upTo = batch % threads === 0 ? '' : 'up to ';
  const where = threads === 2 ? `in each of its 2 threads' heaps (${upTo}${perHeap} image${perHeap === 1 ? '' : 's'} each)` : '';
  return `a training step of SegFormer-${config.variant} at data.crop ${crop} with data.batchSize ${batch}${kept} needs about ${mib(need)} of WebAssembly memory${where ? ` ${where}` : ''}, over the ${mib(WASM_STEP_BUDGET)} a step may take of its ${mib(WASM_HEAP_LIMIT)} heap; ${suggestion} (or ${other})`;
}
