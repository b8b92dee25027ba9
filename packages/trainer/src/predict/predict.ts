/**
 * predict: segment images with any set of labels. Labels are names in the label bank, or new
 * names described on the command line and encoded on the fly with the bank's text encoder
 * (zero-shot: no retraining). Per image: a label-index PNG, a colour overlay with a legend of
 * the labels present, and optionally the raw cosine scores of the top labels.
 */
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONFUSION_COSINE, labelMatrix, loadTextEncoder, type SentenceEncoder } from '@sentseg/label-bank';
import { loadModel, type CheckpointState } from '../checkpoint.js';
import { TrainerError } from '../errors.js';
import { checkSqliteKind } from '../run-folder.js';
import { openCheckpointBank } from '../label-embeddings.js';
import { decodeImage, describePasses, isBackendAbort, segment } from '../eval/infer.js';
import { tf } from '../tf.js';
import { legendFor, writeLabelsPng, writeOverlay, type LegendEntry } from './overlay.js';

export { LEGEND_MIN_AREA, LEGEND_ROW, legendFor, type LegendEntry } from './overlay.js';

export interface LabelRequest {
  name: string;
  /** A new label's description ("An image of X. ..."): encoded with the bank's encoder. */
  description?: string;
}

export interface ResolvedLabels {
  names: string[];
  /** K × D. */
  data: Float32Array;
  dim: number;
  /** Names whose text was encoded in this call (not found in the bank's cache). */
  encoded: string[];
}

/** Embeddings of the requested labels with the encoder and text kind of the checkpoint. */
export async function resolveLabels(bankFile: string, requests: LabelRequest[], state: CheckpointState): Promise<ResolvedLabels> {
  const texts = new Map(requests.flatMap((r) => (r.description === undefined ? [] : [[r.name, r.description] as const])));
  const bank = openCheckpointBank(bankFile, state, { readonly: texts.size === 0 });
  try {
    const matrix = await labelMatrix(
      bank,
      requests.map((r) => r.name),
      {
        encoder: state.encoderId,
        kind: state.labelText,
        onMissing: 'encode',
        texts,
        unknownError: ([n]) => new TrainerError(`label "${n}" is not in ${bankFile}; describe it: --describe "${n}=An image of ${n}. ..."`),
        loadEncoder: async (model) => {
          let encoder: SentenceEncoder;
          try {
            encoder = await loadTextEncoder(model.location);
          } catch (err) {
            throw new TrainerError(`cannot load the text encoder ${state.encoderId} from ${model.location} to encode new labels: ${(err as Error).message}`);
          }
          if (encoder.modelId !== state.encoderId) throw new TrainerError(`the encoder at ${model.location} is now ${encoder.modelId}, the checkpoint was trained with ${state.encoderId}`);
          return encoder;
        },
      },
    );
    return { names: matrix.names, data: matrix.data, dim: matrix.dim, encoded: matrix.encoded };
  } finally {
    bank.close();
  }
}

/** Pairs of requested labels whose embeddings have a cosine of at least `threshold`. */
export function confusablePairs(labels: ResolvedLabels, threshold = CONFUSION_COSINE): { a: string; b: string; cosine: number }[] {
  const pairs: { a: string; b: string; cosine: number }[] = [];
  const d = labels.dim;
  const row = (i: number) => labels.data.subarray(i * d, (i + 1) * d);
  for (let i = 0; i < labels.names.length; i++) {
    for (let j = i + 1; j < labels.names.length; j++) {
      const a = row(i);
      const b = row(j);
      let dot = 0;
      for (let x = 0; x < d; x++) dot += (a[x] as number) * (b[x] as number);
      const cosine = dot / (Math.hypot(...a) * Math.hypot(...b));
      if (cosine >= threshold) pairs.push({ a: labels.names[i] as string, b: labels.names[j] as string, cosine });
    }
  }
  return pairs;
}

export interface PredictOptions {
  run: string;
  labelBank: string;
  inputs: string[];
  out: string;
  /** null: every label the checkpoint was trained on. */
  labels: LabelRequest[] | null;
  shortEdge: number;
  /** Sliding-window tile size; absent: whole image where it fits, windows where not. */
  window?: number;
  /** Write the raw cosine scores of this many top labels (0 = none). */
  scores: number;
  onImage?: (done: number, total: number, file: string) => void;
}

export interface PredictedImage {
  input: string;
  labelsPng: string;
  overlayPng: string;
  legendJson: string;
  scores: string | null;
  legend: LegendEntry[];
  /** How it ran: "whole image" or the sliding window used. */
  inference: string;
}

export interface PredictSummary {
  labels: ResolvedLabels;
  confusable: { a: string; b: string; cosine: number }[];
  images: PredictedImage[];
  skipped: { file: string; reason: string }[];
  seconds: number;
}

const IMAGE_EXT = /\.(png|jpe?g|webp|tiff?|bmp|gif)$/i;

/** The image files of an input: a file, or a folder's images (sorted, not recursive). */
export function listInputs(input: string): string[] {
  if (!existsSync(input)) throw new TrainerError(`input not found: ${input}`);
  if (!statSync(input).isDirectory()) return [input];
  const files = readdirSync(input).filter((n) => IMAGE_EXT.test(n)).sort().map((n) => path.join(input, n));
  if (files.length === 0) throw new TrainerError(`no images (png, jpg, webp, tiff, bmp, gif) in ${input}`);
  return files;
}

export async function predict(options: PredictOptions): Promise<PredictSummary> {
  checkSqliteKind('label bank', options.labelBank, 'label-bank');
  const { model, state } = loadModel(options.run);
  let aborted = false;
  try {
    const requests = options.labels ?? state.labels.map((name) => ({ name }));
    if (requests.length === 0) throw new TrainerError('no labels to predict');
    if (requests.length > 65536) throw new TrainerError(`at most 65,536 labels fit a 16-bit label PNG; got ${requests.length}`);
    const labels = await resolveLabels(options.labelBank, requests, state);
    const confusable = confusablePairs(labels);
    const classEmb = tf.tensor2d(labels.data, [labels.names.length, labels.dim]);
    const images: PredictedImage[] = [];
    const skipped: { file: string; reason: string }[] = [];
    const started = performance.now();
    for (const [n, input] of options.inputs.entries()) {
      try {
        const image = await decodeImage(input);
        // One forward pass: the cosine maps of every label; the label with the highest similarity
        // wins (the paper's rule), and --scores reads its planes from the same maps.
        const seg = await segment(model, image, classEmb, { scales: [options.shortEdge], flip: false, output: 'cosine', window: options.window, keepValues: options.scores > 0 });
        const pred = seg.classes;
        // The output folder is made with the first image's outputs: a run that segments nothing leaves none.
        mkdirSync(options.out, { recursive: true });
        const stem = path.join(options.out, path.basename(input).replace(/\.[^.]+$/, ''));
        const legend = legendFor(pred, labels.names);
        const top = legend.slice(0, options.scores).map((e) => e.index);
        const planes = top.length > 0 ? seg.planes(top) : null;
        const labelsPng = `${stem}_labels.png`;
        const labelsFormat = await writeLabelsPng(labelsPng, pred, image.width, image.height, labels.names.length, legend);
        const overlayPng = `${stem}_overlay.png`;
        await writeOverlay(overlayPng, image.rgb, image.width, image.height, pred, legend);
        const legendJson = `${stem}_legend.json`;
        writeFileSync(legendJson, `${JSON.stringify({ image: input, width: image.width, height: image.height, labels: labels.names, labelsPng: { ...labelsFormat, file: path.basename(labelsFormat.file) }, present: legend }, null, 2)}\n`);
        let scores: string | null = null;
        if (planes) {
          const bin = `${stem}_scores.f32`;
          writeFileSync(bin, Buffer.from(planes.buffer, planes.byteOffset, planes.byteLength));
          scores = `${stem}_scores.json`;
          const header = { data: path.basename(bin), dtype: 'float32', byteOrder: 'little-endian', shape: [top.length, image.height, image.width], labels: top.map((i) => labels.names[i]), values: 'cosine similarity of each pixel embedding with each label embedding' };
          writeFileSync(scores, `${JSON.stringify(header, null, 2)}\n`);
        }
        images.push({ input, labelsPng, overlayPng, legendJson, scores, legend, inference: describePasses(seg.passes) });
      } catch (err) {
        // An aborted WebAssembly module has lost its memory: nothing more can run in this process.
        if (isBackendAbort(err)) {
          aborted = true;
          throw new TrainerError(`the ${tf.getBackend()} backend failed on ${input} (${(err as Error).message}); no further image can be segmented in this process`);
        }
        skipped.push({ file: input, reason: (err as Error).message });
      }
      options.onImage?.(n + 1, options.inputs.length, input);
    }
    classEmb.dispose();
    return { labels, confusable, images, skipped, seconds: (performance.now() - started) / 1000 };
  } finally {
    if (!aborted) model.params.dispose();
  }
}
