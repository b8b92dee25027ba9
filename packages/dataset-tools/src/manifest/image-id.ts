import { createHash } from 'node:crypto';

/** Stable image id: 52 bits of sha256(dataset, split, image path). Same input, same id. */
export function imageId(dataset: string, split: string, image: string): number {
  const hex = createHash('sha256').update(`${dataset}\0${split}\0${image}`).digest('hex');
  return Number.parseInt(hex.slice(0, 13), 16);
}
