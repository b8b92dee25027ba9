/**
 * The losses a dataset can be trained with, keyed by the manifest's `loss` value (datasets.loss,
 * written by each adapter; a run may override it per dataset with losses.byDataset). Shaped as
 * mmseg's decode_head `losses()`: the table says what each loss reads and computes, `batchLosses`
 * applies every loss that has images in the batch to its slice of the batch, in a loop, and returns
 * the parts by name (hd, ld, wd: the names metrics.jsonl shows). The training step sums them.
 */
import { LOSSES_FOR, type AnnotationKind, type DatasetInfo, type LossKind } from '@sentseg/dataset-tools';
import { TrainerError } from '../errors.js';
import { tf, type Tensor } from '../tf.js';
import type { SegFormer } from '../model/segformer.js';
import { decodedPixelLosses, type PixelLosses } from './decoded-losses.js';
import { headPixelLosses } from './cosine.js';
import { linear } from '../model/ops.js';
import { lossHD, meanOverValid } from './hd.js';
import { dropHardest, lossLD } from './ld.js';
import { lossWD, type MapBox } from './wd.js';

/** One loss's images of the batch: embeddings [n, h, w, D], targets [n, h, w], boxes on the map. */
export interface LossSlice {
  /** The slice's embeddings (made when a loss asks for them). */
  emb: () => Tensor;
  /**
   * The per-pixel losses at the map's resolution without the embeddings: a recomputed step's band
   * by band from the encoder's features (decoded-losses.ts), or from the head's input
   * (headPixelLosses); null: L_HD and L_LD use `emb`.
   */
  pixelLosses: ((labelEmb: Tensor, target: Tensor, logTau: Tensor) => PixelLosses) | null;
  target: Tensor;
  /** Boxes of the slice's images (image index relative to the slice), with their CLIP targets. */
  boxes: MapBox[];
  clipBoxEmb: Tensor | null;
}

/** What every loss shares: the label embeddings, τ, the L_LD setting and L_WD's 1×1 convolution. */
export interface LossContext {
  labelEmb: Tensor;
  logTau: Tensor;
  ldDropFraction: number;
  wdConv: { w: Tensor; b: Tensor } | null;
}

export interface LossSpec {
  /** How logs and errors name it. */
  title: string;
  /** What it learns from, for the messages that refuse a dataset without it. */
  needs: string;
  /** The loss of a slice, or null when the slice gives it nothing to learn from (no usable box). */
  compute(slice: LossSlice, context: LossContext): Tensor | null;
}

/** What a dataset of each annotation kind has, in the words of the messages. */
const HAS: Record<AnnotationKind, string> = { dense: 'dense label masks', 'instance-masks': 'instance masks', boxes: 'boxes only' };

export const LOSSES: { readonly [K in LossKind]: LossSpec } = {
  hd: {
    title: 'L_HD',
    needs: 'label masks',
    compute: (s, c) => (s.pixelLosses ? meanOverValid(s.pixelLosses(c.labelEmb, s.target, c.logTau)) : lossHD(s.emb(), c.labelEmb, s.target, c.logTau)),
  },
  ld: {
    title: 'L_LD',
    needs: 'label masks',
    compute: (s, c) => {
      if (!s.pixelLosses) return lossLD(s.emb(), c.labelEmb, s.target, c.logTau, c.ldDropFraction);
      const { losses, valid } = s.pixelLosses(c.labelEmb, s.target, c.logTau);
      return dropHardest(losses, valid, s.target.shape[0] as number, c.ldDropFraction);
    },
  },
  wd: {
    title: 'L_WD',
    needs: 'boxes',
    compute: (s, c) => (s.boxes.length > 0 && s.clipBoxEmb && c.wdConv ? lossWD(s.emb(), s.boxes, s.clipBoxEmb, c.wdConv) : null),
  },
};

/** The table's keys in its order, which is also the order of the batch's slices. */
export const LOSS_NAMES = Object.keys(LOSSES) as LossKind[];

export function isLossName(name: unknown): name is LossKind {
  return typeof name === 'string' && (LOSS_NAMES as string[]).includes(name);
}

/**
 * Each trained dataset's loss: losses.byDataset where it names the dataset, else the manifest's
 * `loss` column. An override naming a dataset that is not trained, and a loss whose input the
 * dataset's annotations lack (wd without boxes, hd or ld on boxes only), are refused by name.
 */
export function chooseLosses(trained: Pick<DatasetInfo, 'name' | 'annotation' | 'loss'>[], byDataset: Record<string, string>, manifestNames: string[], manifest: string): Map<string, LossKind> {
  for (const [name, loss] of Object.entries(byDataset)) {
    if (!isLossName(loss)) throw new TrainerError(`losses.byDataset.${name}: unknown loss "${loss}" (one of ${LOSS_NAMES.join(', ')})`);
    if (!manifestNames.includes(name)) throw new TrainerError(`losses.byDataset names dataset "${name}", which is not in ${manifest} (has: ${manifestNames.join(', ')})`);
    if (!trained.some((d) => d.name === name)) throw new TrainerError(`losses.byDataset names dataset "${name}", which this run does not train (data.datasets: ${trained.map((d) => d.name).join(', ')})`);
  }
  const chosen = new Map<string, LossKind>();
  for (const d of trained) {
    const override = byDataset[d.name];
    const loss = (override ?? d.loss) as LossKind;
    const spec = LOSSES[loss];
    // Which loss an annotation kind can feed is the manifest's contract (dataset-tools' LOSSES_FOR).
    if (!LOSSES_FOR[d.annotation].includes(loss)) {
      const where = override !== undefined ? `losses.byDataset.${d.name}=${loss}` : `${manifest} gives dataset ${d.name} loss ${loss}`;
      const fits = LOSS_NAMES.filter((l) => LOSSES_FOR[d.annotation].includes(l)).join(' or ');
      throw new TrainerError(`${where}: ${spec.title} needs ${spec.needs}, and ${d.name} has ${HAS[d.annotation]}; choose ${fits}`);
    }
    chosen.set(d.name, loss);
  }
  return chosen;
}

/** Where each loss's images lie in the batch (contiguous, in LOSS_NAMES order) and their boxes. */
export type LossSlices = Partial<Record<LossKind, { start: number; count: number; boxes: MapBox[]; clipBoxEmb: Tensor | null }>>;

export type LossParts = Partial<Record<LossKind, Tensor>>;

/**
 * A recomputed step's encoder output, for `batchLosses` in place of the embeddings: L_HD and L_LD
 * take their per-pixel losses band by band from the features (decoded-losses.ts); L_WD decodes its
 * slice's embeddings. Only where the targets are at the map's resolution (losses.resolution = cells).
 */
export interface StepFeatures {
  model: SegFormer;
  /** The encoder's four maps [n, h_s, w_s, C_s]. */
  features: Tensor[];
}

/**
 * The decoder's output before the head, for `batchLosses` in place of the embeddings: L_HD and L_LD
 * take their cosines from it and the head's weights (headPixelLosses: about half the products of
 * making the embeddings); L_WD makes its slice's embeddings. Only where the targets are at the
 * map's resolution (losses.resolution = cells).
 */
export interface HeadInput {
  model: SegFormer;
  /** The head's input [n, h, w, decoderDim] (SegFormer.decodeToHead). */
  headInput: Tensor;
}

/**
 * Applies every loss of the table that has images in the batch to its slice of emb [n, h, w, D] (or
 * of a recomputed step's features, or of the head's input) and target [n, h, w]. A slice is taken
 * with tf.slice: its gradient is a pad on every backend, a gather's is not on wasm; the whole batch
 * is passed as it is.
 */
export function batchLosses(emb: Tensor | StepFeatures | HeadInput, target: Tensor, slices: LossSlices, context: LossContext): LossParts {
  const n = 'headInput' in emb ? (emb.headInput.shape[0] as number) : 'features' in emb ? ((emb.features[0] as Tensor).shape[0] as number) : (emb.shape[0] as number);
  const parts: LossParts = {};
  for (const name of LOSS_NAMES) {
    const slice = slices[name];
    if (!slice || slice.count === 0) continue;
    const pick = (t: Tensor) => (slice.count === n ? t : tf.slice(t, slice.start, slice.count));
    const source = sliceSource(emb, pick);
    const part = LOSSES[name].compute({ ...source, target: pick(target), boxes: slice.boxes, clipBoxEmb: slice.clipBoxEmb }, context);
    if (part) parts[name] = part;
  }
  return parts;
}

/** A slice's embeddings (made once, when a loss asks) and, where the source allows, its per-pixel losses without them. */
function sliceSource(emb: Tensor | StepFeatures | HeadInput, pick: (t: Tensor) => Tensor): Pick<LossSlice, 'emb' | 'pixelLosses'> {
  let embeddings: Tensor | null = null;
  if ('headInput' in emb) {
    const rows = pick(emb.headInput);
    const w = emb.model.params.get('head/w');
    const b = emb.model.params.get('head/b');
    return { emb: () => (embeddings ??= linear(rows, w, b)), pixelLosses: (labelEmb, t, logTau) => headPixelLosses(rows, w, b, labelEmb, t, logTau) };
  }
  if ('features' in emb) {
    const features = emb.features.map(pick);
    return { emb: () => (embeddings ??= emb.model.decodeFeatures(features)), pixelLosses: (labelEmb, t, logTau) => decodedPixelLosses(emb.model, features, labelEmb, t, logTau) };
  }
  return { emb: () => (embeddings ??= pick(emb)), pixelLosses: null };
}
