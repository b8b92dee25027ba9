/**
 * The label embeddings a run trains against: one row per manifest label (in label-id order),
 * read from the label bank. The manifest and the bank must describe the same labels.
 */
import { existsSync } from 'node:fs';
import type { ManifestReader } from '@sentseg/dataset-tools';
import { LabelBank, type TextKind } from '@sentseg/label-bank';
import { TrainerError } from './errors.js';

export interface LabelEmbeddings {
  names: string[];
  encoderId: string;
  dim: number;
  /** names.length × dim, L2-normalised rows. */
  data: Float32Array;
}

export function readLabelEmbeddings(bankFile: string, manifest: ManifestReader, kind: TextKind, encoder: string | null): LabelEmbeddings {
  if (!existsSync(bankFile)) throw new TrainerError(`label bank not found: ${bankFile} (label-bank embed writes one)`);
  const bank = LabelBank.open(bankFile, { readonly: true });
  try {
    const labels = manifest.labels();
    labels.forEach((l, i) => {
      if (l.id !== i) throw new TrainerError(`manifest ${manifest.file} has label ids with gaps (id ${l.id} at position ${i})`);
    });
    const rows = labels.map((l) => bank.label(l.name));
    const missing = labels.filter((_, i) => rows[i] === undefined).map((l) => l.name);
    if (missing.length > 0) {
      throw new TrainerError(
        `manifest and label bank were built with different label sets: ${missing.length} label(s) of ${manifest.file} are not in ${bankFile}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''} (label-bank add NAME adds one)`,
      );
    }
    const matrix = bank.embeddingMatrix(kind, encoder ?? undefined, rows as NonNullable<(typeof rows)[number]>[]);
    return { names: labels.map((l) => l.name), encoderId: matrix.modelId, dim: matrix.dim, data: matrix.data };
  } catch (err) {
    if (err instanceof TrainerError) throw err;
    throw new TrainerError((err as Error).message);
  } finally {
    bank.close();
  }
}
