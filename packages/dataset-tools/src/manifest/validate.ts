import { existsSync } from 'node:fs';
import { imageSize } from './inspect.js';
import { InspectPool } from './pool.js';
import type { ManifestReader } from './reader.js';

export interface ValidationReport {
  checked: number;
  /** Problems found now, on disk. */
  problems: { dataset: string; file: string; reason: string }[];
  /** The problem rows the merge recorded (files it skipped or found suspect), as stored. */
  recorded: { dataset: string; file: string; reason: string }[];
}

/**
 * Re-checks a manifest against the files on disk: every image and mask exists, every mask matches
 * its image's size, and every id in every mask is a class of its dataset (or an ignore value).
 */
export async function validateManifest(reader: ManifestReader, options: { workers?: number; onProgress?: (done: number) => void } = {}): Promise<ValidationReport> {
  const pool = new InspectPool(options.workers ?? 0);
  const problems: ValidationReport['problems'] = [];
  let checked = 0;
  try {
    for (const d of reader.datasets()) {
      const known = new Set(reader.classIds(d.name).concat(d.ignoreValues));
      const pending: Promise<void>[] = [];
      for (const s of reader.samples(d.name)) {
        const check = async () => {
          if (!existsSync(s.image)) return void problems.push({ dataset: d.name, file: s.image, reason: 'image missing' });
          if (s.mask === null) {
            for (const inst of reader.instanceMasks(s.id, d.name)) if (!existsSync(inst.mask)) problems.push({ dataset: d.name, file: inst.mask, reason: 'instance mask missing' });
            // Box and instance-mask images: the header's size must still be the manifest's.
            try {
              const size = await imageSize(s.image);
              if (size.width !== s.width || size.height !== s.height) problems.push({ dataset: d.name, file: s.image, reason: `image is ${size.width}×${size.height}, the manifest says ${s.width}×${s.height}` });
            } catch (err) {
              problems.push({ dataset: d.name, file: s.image, reason: `unreadable image (${(err as Error).message})` });
            }
            return;
          }
          if (!existsSync(s.mask)) return void problems.push({ dataset: d.name, file: s.mask, reason: 'mask missing' });
          const segments = d.encoding === 'panoptic-rgb' ? [...reader.segments(s.id)] : undefined;
          const result = await pool.run({ image: s.image, mask: s.mask, encoding: { kind: d.encoding }, segments, histogram: true });
          if (!result.ok) return void problems.push({ dataset: d.name, file: result.which === 'image' ? s.image : s.mask, reason: result.reason });
          if (result.width !== s.width || result.height !== s.height) {
            problems.push({ dataset: d.name, file: s.image, reason: `image is ${result.width}×${result.height}, the manifest says ${s.width}×${s.height}` });
          }
          const unknown = result.histogram.filter(([id]) => !known.has(id)).map(([id, px]) => `${id} (${px} px)`);
          if (unknown.length > 0) problems.push({ dataset: d.name, file: s.mask, reason: `ids not in the taxonomy: ${unknown.join(', ')}` });
          if (result.strays.length > 0) problems.push({ dataset: d.name, file: s.mask, reason: `segment ids not in segments_info: ${result.strays.map(([id]) => id).join(', ')}` });
        };
        pending.push(
          check().then(() => {
            checked += 1;
            options.onProgress?.(checked);
          }),
        );
        if (pending.length >= 64) await Promise.all(pending.splice(0));
      }
      await Promise.all(pending);
    }
  } finally {
    await pool.close();
  }
  problems.sort((a, b) => a.dataset.localeCompare(b.dataset) || a.file.localeCompare(b.file));
  return { checked, problems, recorded: reader.problems() };
}
