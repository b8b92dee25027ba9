/** How far a bank's encoders are from a reference encoder, judged on the labels both cover. */
import { nearestNeighbours, spearman, upperTriangle } from '../report/rank-correlation.js';
import { cosineMatrix } from '../report/similarity.js';
import { labelText, type LabelBank, type LabelRow } from '../store/bank.js';
import type { TextKind } from '../text.js';
import { referenceRows, type ReferenceEmbeddings } from './reference-file.js';

export interface Agreement {
  /** Labels compared. */
  labels: number;
  /** Spearman rank correlation of the off-diagonal similarities (each pair once). */
  spearman: number;
  /** Labels whose nearest other label is the same in both matrices. */
  sameNearest: number;
}

/** Agreement of two n × n similarity matrices over the same labels in the same order. */
export function matrixAgreement(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Agreement {
  const nearA = nearestNeighbours(a, n);
  const nearB = nearestNeighbours(b, n);
  let same = 0;
  for (let i = 0; i < n; i++) if (nearA[i] === nearB[i] && (nearA[i] as number) >= 0) same += 1;
  return { labels: n, spearman: n >= 3 ? spearman(upperTriangle(a, n), upperTriangle(b, n)) : NaN, sameNearest: same };
}

export interface EncoderAgreement extends Agreement {
  modelId: string;
  kind: TextKind;
}

/**
 * For each of the bank's encoders and each text kind, its agreement with the reference over the
 * given labels that the reference covers and the encoder has embedded.
 */
export function agreementWithReference(bank: LabelBank, reference: ReferenceEmbeddings, labels: LabelRow[]): EncoderAgreement[] {
  const rows = referenceRows(reference);
  const covered = labels.filter((l) => rows.has(l.name));
  const out: EncoderAgreement[] = [];
  for (const model of bank.models()) {
    for (const kind of ['word', 'sentence'] as const) {
      const found = covered.flatMap((l) => {
        const vector = bank.embedding(model.modelId, labelText(l, kind));
        return vector ? [{ row: rows.get(l.name) as number, vector }] : [];
      });
      const n = found.length;
      const mine = new Float32Array(n * model.dim);
      found.forEach((f, i) => mine.set(f.vector, i * model.dim));
      const identity = found.map((_, i) => i);
      const encoderSim = cosineMatrix(mine, model.dim, identity);
      const referenceSim = cosineMatrix(reference.vectors, reference.dim, found.map((f) => f.row));
      out.push({ modelId: model.modelId, kind, ...matrixAgreement(encoderSim, referenceSim, n) });
    }
  }
  return out;
}

/** What a report says of its reference. */
export interface ReferenceSummary {
  file: string;
  model: string | null;
  /** Its short name for titles ("OpenAI CLIP ViT-B/32"). */
  modelName: string;
  prompt: string;
  /** Labels of the bank the reference covers. */
  covered: number;
  /** Each of the bank's encoders (word and sentence texts) against the reference. */
  agreements: EncoderAgreement[];
}
