import { readdirSync } from 'node:fs';
import { DatasetError } from '../errors.js';

/**
 * The splits to read: those of `present` that --split asks for (all of them without --split). When
 * it names none the dataset has, the refusal names what was asked and what the dataset has, rather
 * than the merge finding "no images". One --split applies to every dataset of a merge, so a split
 * only some of them have (val for cityscapes, validation for ade20k) is no mistake.
 */
export function chosenSplits(format: string, present: readonly string[], requested: readonly string[] | undefined, datasetName?: string): string[] {
  if (requested === undefined) return [...present];
  const chosen = present.filter((s) => requested.includes(s));
  if (chosen.length > 0 || present.length === 0) return chosen;
  const asked = requested.map((s) => `"${s}"`).join(' or ');
  const dataset = datasetName === undefined ? format : `${format} dataset "${datasetName}"`;
  throw new DatasetError('NOT_A_DATASET', `no split ${asked} in ${dataset} (has: ${present.join(', ')})`);
}

/** The sub-folders of `dir`, sorted; none when `dir` is missing. */
export function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/**
 * The splits of a format whose splits are the sub-folders of `dir`: without --split the `usual` ones
 * there (a test split without labels, or with placeholder labels, is read only when asked for);
 * with --split those of its sub-folders it names, refused (chosenSplits) when it names none.
 */
export function folderSplits(format: string, dir: string, usual: readonly string[], requested: readonly string[] | undefined, datasetName?: string): string[] {
  const present = subfolders(dir);
  if (requested === undefined) return usual.filter((s) => present.includes(s));
  return chosenSplits(format, present, requested, datasetName);
}
