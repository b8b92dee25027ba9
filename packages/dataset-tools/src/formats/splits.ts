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
