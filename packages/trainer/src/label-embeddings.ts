/**
 * The label embeddings a run trains against (one row per manifest label, in label-id order) and
 * those a checkpoint is evaluated or run with, read from the label bank through labelMatrix. The
 * manifest and the bank must describe the same labels.
 */
import { existsSync } from 'node:fs';
import type { ManifestReader } from '@sentseg/dataset-tools';
import { LabelBank, labelMatrix, type TextKind } from '@sentseg/label-bank';
import type { CheckpointState } from './checkpoint.js';
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
    const matrix = labelMatrix(
      bank,
      labels.map((l) => l.name),
      {
        kind,
        ...(encoder === null ? {} : { encoder }),
        unknownError: (missing) =>
          new TrainerError(`manifest and label bank were built with different label sets: ${missing.length} label(s) of ${manifest.file} are not in ${bankFile}: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''} (label-bank add NAME adds one)`),
      },
    );
    return { names: matrix.names, encoderId: matrix.modelId, dim: matrix.dim, data: matrix.data };
  } finally {
    bank.close();
  }
}

/**
 * The label bank a checkpoint reads its label embeddings from (labelMatrix with the checkpoint's
 * `encoderId` and `labelText`), opened once its encoder is known to give `embedDim`-d embeddings.
 * The caller closes it.
 */
export function openCheckpointBank(bankFile: string, state: CheckpointState, options: { readonly: boolean }): LabelBank {
  if (!existsSync(bankFile)) throw new TrainerError(`label bank not found: ${bankFile}`);
  const bank = LabelBank.open(bankFile, options);
  try {
    const model = bank.resolveModel(state.encoderId);
    if (model.dim !== state.embedDim) throw new TrainerError(`${bankFile} gives ${model.dim}-d embeddings, the checkpoint was trained on ${state.embedDim}-d ones`);
    return bank;
  } catch (err) {
    bank.close();
    throw err;
  }
}
