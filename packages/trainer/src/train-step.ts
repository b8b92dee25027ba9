/**
 * One training step, callable on its own (detectron2's `run_step`): `stepInputs` maps a loaded
 * batch to the host arrays of its tensors (images in the loss table's order, each loss a contiguous
 * slice, L_WD's boxes with their CLIP targets), and the function `createTrainStep` returns runs one
 * forward and backward pass on them, applies the optimizer and gives back the loss and its parts.
 * The loop around it (train-loop.ts) owns checkpoints, metrics, progress and interruption.
 */
import type { LossKind } from '@sentseg/dataset-tools';
import type { BoxEmbeddings } from './boxes/clip-boxes.js';
import type { TrainConfig } from './config.js';
import type { LoadedBatch, LoadedImage } from './data/loader.js';
import { TrainerError } from './errors.js';
import { batchLosses, LOSS_NAMES, type LossParts, type LossSlices } from './losses/table.js';
import { OUTPUT_STRIDE, type SegFormer } from './model/segformer.js';
import { variableGrads } from './model/backprop.js';
import type { Optimizer } from './optim/optimizers.js';
import { tf, type Tensor } from './tf.js';

/** Picks each image's label at the centre of its output-stride cell: crop×crop → (crop/s)². */
export function downsampleTarget(target: Int32Array, crop: number, stride = OUTPUT_STRIDE): Int32Array {
  const out = crop / stride;
  const result = new Int32Array(out * out);
  const offset = Math.floor(stride / 2);
  for (let y = 0; y < out; y++) for (let x = 0; x < out; x++) result[y * out + x] = target[(y * stride + offset) * crop + x * stride + offset] as number;
  return result;
}

/** What a step's tensors are built from: a batch's images, sorted so that each loss takes a contiguous slice. */
export interface StepInputs {
  n: number;
  crop: number;
  /** n × crop × crop × 3. */
  pixels: Float32Array;
  /** n × targetSide²: the label at each output cell's centre, or the whole crop's label (losses.resolution). */
  targets: Int32Array;
  targetSide: number;
  /** Each loss's slice of the batch, with L_WD's boxes on the 1/4-resolution map (clipBoxEmb set inside the step). */
  slices: LossSlices;
  /** CLIP targets of the slices' boxes, in their order. */
  clipRows: Float32Array[];
}

/** The batch mapper: images (at least one) → the host arrays of the step's tensors. */
export function stepInputs(batchImages: LoadedImage[], lossOf: Map<string, LossKind>, boxTargets: BoxEmbeddings | null, crop: number, atLabel: boolean): StepInputs {
  const n = batchImages.length;
  // The batch partitioned by loss, in the table's order: each loss takes a contiguous slice.
  const order = (img: { dataset: string }) => LOSS_NAMES.indexOf(lossOf.get(img.dataset) as LossKind);
  const images = [...batchImages].sort((a, b) => order(a) - order(b));
  const pixels = new Float32Array(n * crop * crop * 3);
  // losses.resolution: the label at each output cell's centre, or the whole crop's label.
  const targetSide = atLabel ? crop : crop / OUTPUT_STRIDE;
  const targets = new Int32Array(n * targetSide * targetSide);
  images.forEach((img, i) => {
    pixels.set(img.pixels, i * crop * crop * 3);
    targets.set(atLabel ? img.target : downsampleTarget(img.target, crop), i * targetSide * targetSide);
  });
  const slices: LossSlices = {};
  const clipRows: Float32Array[] = [];
  images.forEach((img, i) => {
    const loss = lossOf.get(img.dataset) as LossKind;
    const slice = (slices[loss] ??= { start: i, count: 0, boxes: [], clipBoxEmb: null });
    slice.count += 1;
    // Boxes on the 1/4-resolution map, with their CLIP targets (images relative to the slice).
    for (const b of loss === 'wd' ? img.boxes : []) {
      const target = boxTargets?.vectors.get(b.boxId);
      if (!target) continue;
      slice.boxes.push({ image: i - slice.start, x0: b.x0 / OUTPUT_STRIDE, y0: b.y0 / OUTPUT_STRIDE, x1: b.x1 / OUTPUT_STRIDE, y1: b.y1 / OUTPUT_STRIDE });
      clipRows.push(target);
    }
  });
  return { n, crop, pixels, targets, targetSide, slices, clipRows };
}

/** What one step gives back: the summed loss and its parts (null: no image of the batch trains with it). */
export interface StepLosses {
  loss: number;
  parts: Record<LossKind, number | null>;
  /** Images the step trained on (0: every image of the batch was unreadable, nothing was done). */
  images: number;
  /** L_WD boxes the loss used, and those the crop cut under losses.wdMinVisible. */
  wdBoxes: number;
  wdBoxesCut: number;
}

export interface TrainStepContext {
  model: SegFormer;
  optimizer: Optimizer;
  /** labels × dim label embeddings. */
  labelEmb: Tensor;
  lossOf: Map<string, LossKind>;
  boxTargets: BoxEmbeddings | null;
  crop: number;
  resolution: TrainConfig['losses']['resolution'];
  ldDropFraction: number;
}

/**
 * The loss parts of a batch's images x against targets t, inside a gradient: a recomputed step at the
 * map's resolution takes L_HD's and L_LD's per-pixel losses band by band from the encoder's features,
 * never holding the whole batch's embeddings; otherwise from the decoded embeddings. The one-thread
 * step and each half of a two-thread step (parallel-step.ts) compute their losses through it.
 */
export function stepLosses(model: SegFormer, x: Tensor, t: Tensor, slices: LossSlices, atLabel: boolean, context: Parameters<typeof batchLosses>[3]): LossParts {
  // At the map's resolution the cosines come from the head's input (losses/head-cosine.ts); at the
  // label's the logits are upsampled from the embeddings.
  const source = atLabel ? model.forward(x) : model.decoderInBands ? { model, features: model.encode(x) } : { model, headInput: model.decodeToHead(model.encode(x)) };
  return batchLosses(source, t, slices, context);
}

export type TrainStep = (batch: LoadedBatch, at: { step: number; lr: number }) => Promise<StepLosses>;

/** One step: a forward pass, the losses of the batch's slices summed, their gradients, the optimizer's update. */
export function createTrainStep(context: TrainStepContext): TrainStep {
  const { model, optimizer, labelEmb, lossOf, boxTargets, crop } = context;
  const params = model.params.entries();
  const trainable = params.map(([, v]) => v);
  const atLabel = context.resolution === 'label';
  return async (batch, { step, lr }) => {
    const wdBoxesCut = batch.images.reduce((sum, img) => sum + img.boxesCut, 0);
    const partValues: Record<LossKind, number | null> = { hd: null, ld: null, wd: null };
    if (batch.images.length === 0) return { loss: 0, parts: partValues, images: 0, wdBoxes: 0, wdBoxesCut };
    const inputs = stepInputs(batch.images, lossOf, boxTargets, crop, atLabel);
    const { n, pixels, targets, targetSide, slices, clipRows } = inputs;
    const parts: LossParts = {};
    const { value, grads } = tf.tidy(() => {
      const x = tf.tensor4d(pixels, [n, crop, crop, 3]);
      const t = tf.tensor3d(targets, [n, targetSide, targetSide], 'int32');
      if (slices.wd && boxTargets && clipRows.length > 0) {
        slices.wd.clipBoxEmb = tf.tensor2d(Float32Array.from(clipRows.flatMap((r) => Array.from(r))), [clipRows.length, boxTargets.dim]);
      }
      const wdConv = boxTargets ? { w: model.params.get('wd/w'), b: model.params.get('wd/b') } : null;
      return variableGrads(() => {
        const computed = stepLosses(model, x, t, slices, atLabel, { labelEmb, logTau: model.logTau, ldDropFraction: context.ldDropFraction, wdConv });
        let totalLoss: Tensor = tf.scalar(0);
        for (const [name, part] of Object.entries(computed) as [LossKind, Tensor][]) {
          parts[name] = tf.keep(part);
          totalLoss = tf.add(totalLoss, part);
        }
        return totalLoss as tf.Scalar;
      }, trainable);
    });
    const lossValue = (await value.data())[0] as number;
    for (const name of LOSS_NAMES) {
      const part = parts[name];
      if (part) partValues[name] = (await part.data())[0] as number;
    }
    if (!Number.isFinite(lossValue)) {
      tf.dispose([value, ...Object.values(grads), ...Object.values(parts)]);
      throw new TrainerError(`loss is ${lossValue} at step ${step + 1}; lower optimizer.lr`);
    }
    optimizer.apply(params, grads, lr, (name) => model.decays(name), (v) => v.name);
    tf.dispose([value, ...Object.values(grads), ...Object.values(parts)]);
    return { loss: lossValue, parts: partValues, images: n, wdBoxes: clipRows.length, wdBoxesCut };
  };
}
