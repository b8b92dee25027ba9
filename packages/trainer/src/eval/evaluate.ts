/**
 * eval: a checkpoint on one dataset's split. Each pixel is predicted among that dataset's own
 * classes only, each class represented by the embedding of its label's text (the paper's
 * cross-dataset protocol); the confusion matrix is over those classes, 255 ignored.
 */
import { ignoreIndexFor, ManifestReader } from '@sentseg/dataset-tools';
import { labelMatrix, type LabelMatrix } from '@sentseg/label-bank';
import { loadModel, type CheckpointState } from '../checkpoint.js';
import { openCheckpointBank } from '../label-embeddings.js';
import { denseLabels, NOT_A_CLASS, strayLabelReason } from '../data/load-sample.js';
import { readMaskValues } from '@sentseg/dataset-tools';
import { TrainerError } from '../errors.js';
import { checkSqliteKind } from '../run-folder.js';
import { accumulateConfusion, meanIoU, type IoUReport } from '../metrics/iou.js';
import { tf } from '../tf.js';
import { decodeImage, describePasses, isBackendAbort, segment, type InferOptions } from './infer.js';

export interface EvalClass {
  labelId: number;
  name: string;
}

export interface EvalReport extends IoUReport {
  dataset: string;
  split: string;
  checkpoint: string;
  step: number;
  scales: number[];
  flip: boolean;
  window: number | null;
  /** How the images ran: whole (one forward pass per scale) or in sliding windows (chosen per image where the whole would not fit). */
  inference: { wholeImage: number; slidingWindow: number; windows: string[] };
  images: number;
  skipped: { file: string; reason: string }[];
  classes: EvalClass[];
  /** Classes that could not be predicted (no embedding for the checkpoint's encoder). */
  neverPredicted: string[];
  confusion: number[];
  megapixels: number;
  seconds: number;
}

/** The labels a dataset's classes map to, in label-id order. */
export function datasetClasses(reader: ManifestReader, dataset: string): { classes: EvalClass[]; lut: Int32Array } {
  const ignore = reader.ignoreIndex();
  const lut = reader.lut(dataset, ignore);
  const names = new Map(reader.labels().map((l) => [l.id, l.name]));
  const ids = [...new Set(Array.from(lut).filter((v) => v !== ignore))].sort((a, b) => a - b);
  return { classes: ids.map((id) => ({ labelId: id, name: names.get(id) ?? `label ${id}` })), lut };
}

/**
 * Embeddings [K, D] of the given label names with the encoder and text kind a checkpoint was trained on.
 * A name that is not in the bank, or has no embedding of that encoder, is an error, or with
 * `allowMissing` is listed in `missing` (its row stays zero).
 */
export function labelEmbeddingsFor(bankFile: string, names: string[], state: CheckpointState, allowMissing = false): LabelMatrix {
  const bank = openCheckpointBank(bankFile, state, { readonly: true });
  try {
    return labelMatrix(bank, names, {
      encoder: state.encoderId,
      kind: state.labelText,
      onMissing: allowMissing ? 'zero' : 'error',
      unknownError: ([n]) => new TrainerError(`label "${n}" is not in ${bankFile} (label-bank add "${n}" ... adds it)`),
    });
  } finally {
    bank.close();
  }
}

export interface EvalOptions {
  run: string;
  manifest: string;
  labelBank: string;
  dataset: string;
  split: string;
  infer: InferOptions;
  limit?: number;
  /**
   * A class whose label has no embedding of the checkpoint's encoder (a one-hot model asked for a
   * name it was not built with): an error (default), or a class that is never predicted (IoU 0 where it occurs).
   */
  missingLabels?: 'error' | 'never-predicted';
  onImage?: (done: number, total: number) => void;
}

/** The dataset eval reads: it exists, has dense masks and the split (else a TrainerError saying which). */
function evalTarget(reader: ManifestReader, dataset: string, split: string) {
  const info = reader.dataset(dataset);
  if (info.annotation !== 'dense') throw new TrainerError(`eval needs dense masks; ${dataset} has ${info.annotation}`);
  if (!info.splits.includes(split)) throw new TrainerError(`dataset ${dataset} has no split "${split}" (it has: ${info.splits.join(', ')})`);
  return info;
}

/** Checks the dataset and split eval was given against the manifest, before any model or backend loads. */
export function checkEvalTarget(manifest: string, dataset: string, split: string): void {
  const reader = ManifestReader.open(manifest);
  try {
    evalTarget(reader, dataset, split);
  } finally {
    reader.close();
  }
}

export async function evaluate(options: EvalOptions): Promise<EvalReport> {
  checkSqliteKind('manifest', options.manifest, 'manifest');
  checkSqliteKind('label bank', options.labelBank, 'label-bank');
  const { model, state, dir } = loadModel(options.run);
  let reader: ManifestReader | null = null;
  let aborted = false;
  try {
    reader = ManifestReader.open(options.manifest);
    const info = evalTarget(reader, options.dataset, options.split);
    const { classes } = datasetClasses(reader, options.dataset);
    if (classes.length === 0) throw new TrainerError(`dataset ${options.dataset} maps no class to a label`);
    const classOfLabel = new Map(classes.map((c, i) => [c.labelId, i]));
    // Label id → class index of this dataset (classIgnore: no class, and the ignore value).
    const classIgnore = ignoreIndexFor(classes.length);
    // Mask ids that are no class of the dataset: the image is skipped and named (as train does), not scored as ignored.
    const numLabels = reader.labels().length;
    const labelIgnore = ignoreIndexFor(numLabels);
    const strictLut = reader.lut(options.dataset, labelIgnore, NOT_A_CLASS);
    const classOfLabelId = new Int32Array(Math.max(numLabels, labelIgnore + 1)).fill(classIgnore);
    for (const [labelId, index] of classOfLabel) classOfLabelId[labelId] = index;
    const allEmb = labelEmbeddingsFor(options.labelBank, classes.map((c) => c.name), state, options.missingLabels === 'never-predicted');
    const neverPredicted = allEmb.missing;
    // Candidates: the classes with an embedding; predictions index into them and map back to the class index.
    const candidates = classes.map((c, i) => (neverPredicted.includes(c.name) ? -1 : i)).filter((i) => i >= 0);
    if (candidates.length === 0) throw new TrainerError(`no class of ${options.dataset} has an embedding of ${state.encoderId}`);
    const candidateEmb = new Float32Array(candidates.length * state.embedDim);
    candidates.forEach((c, j) => candidateEmb.set(allEmb.data.subarray(c * state.embedDim, (c + 1) * state.embedDim), j * state.embedDim));
    const classEmb = tf.tensor2d(candidateEmb, [candidates.length, state.embedDim]);
    const k = classes.length;
    const confusion = new Float64Array(k * k);
    const skipped: { file: string; reason: string }[] = [];
    const samples = [...reader.samples(options.dataset, options.split)].slice(0, options.limit ?? Infinity);
    let images = 0;
    let pixels = 0;
    const inference = { wholeImage: 0, slidingWindow: 0, windows: [] as string[] };
    const started = performance.now();
    for (const [i, sample] of samples.entries()) {
      try {
        if (!sample.mask) throw new Error('no mask');
        const image = await decodeImage(sample.image);
        const mask = readMaskValues(sample.mask, info.encoding);
        if (mask.width !== image.width || mask.height !== image.height) throw new Error(`mask ${mask.width}×${mask.height} does not match image ${image.width}×${image.height}`);
        const segments = info.encoding === 'panoptic-rgb' ? [...reader.segments(sample.id)] : [];
        // One pass over the mask: its label ids (stray ids refuse the image), then each label's class.
        const labels = denseLabels(mask.values, info.encoding, segments, strictLut, labelIgnore);
        const stray = strayLabelReason(mask.values, labels, numLabels, options.dataset, info.encoding);
        if (stray) throw new Error(`${sample.mask}: ${stray}`);
        const target = labels.map((labelId) => classOfLabelId[labelId] as number);
        const seg = await segment(model, image, classEmb, options.infer);
        const pred = seg.classes;
        if (seg.passes.some((p) => p.window !== null)) {
          inference.slidingWindow += 1;
          const how = describePasses(seg.passes);
          if (!inference.windows.includes(how)) inference.windows.push(how);
        } else inference.wholeImage += 1;
        if (candidates.length < k) for (let p = 0; p < pred.length; p++) pred[p] = candidates[pred[p] as number] as number;
        accumulateConfusion(confusion, pred, target, k, classIgnore);
        images += 1;
        pixels += image.width * image.height;
      } catch (err) {
        // An aborted WebAssembly module has lost its memory: nothing more can run in this process.
        if (isBackendAbort(err)) {
          aborted = true;
          throw new TrainerError(`the ${tf.getBackend()} backend failed on ${sample.image} (${(err as Error).message}); no further image can be evaluated in this process`);
        }
        skipped.push({ file: sample.image, reason: (err as Error).message });
      }
      options.onImage?.(i + 1, samples.length);
    }
    classEmb.dispose();
    const seconds = (performance.now() - started) / 1000;
    return {
      dataset: options.dataset,
      split: options.split,
      checkpoint: dir,
      step: state.step,
      scales: options.infer.scales,
      flip: options.infer.flip,
      window: options.infer.window ?? null,
      inference,
      images,
      skipped,
      classes,
      neverPredicted,
      confusion: Array.from(confusion),
      megapixels: pixels / 1e6,
      seconds,
      ...meanIoU(confusion),
    };
  } finally {
    if (!aborted) model.params.dispose();
    reader?.close();
  }
}

/** Labels of a dataset that no training dataset of `trainingManifest` has (zero-shot for that model). */
export function unseenLabels(reader: ManifestReader, dataset: string, trainingManifest: string, trainingDatasets: string[] | null): string[] {
  const training = ManifestReader.open(trainingManifest);
  try {
    const names = new Map(training.labels().map((l) => [l.id, l.name]));
    const seen = new Set<string>();
    for (const d of training.datasets()) {
      if (trainingDatasets && !trainingDatasets.includes(d.name)) continue;
      const ignore = training.ignoreIndex();
      for (const id of training.lut(d.name, ignore)) if (id !== ignore) seen.add(names.get(id) as string);
    }
    return datasetClasses(reader, dataset).classes.map((c) => c.name).filter((n) => !seen.has(n));
  } finally {
    training.close();
  }
}
