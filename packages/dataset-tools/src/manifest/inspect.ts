import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { readMaskValues } from '../mask-png.js';
import { readIddPolygons } from '../formats/idd.js';
import sharp from 'sharp';
import type { MaskEncoding } from '../formats/types.js';

/** One image + mask to check and count, with absolute paths. */
export interface InspectTask {
  image: string;
  mask: string;
  encoding: MaskEncoding;
  segments?: [number, number][];
  /** Decode the mask and count pixels per source id (else sizes only, from the file headers). */
  histogram: boolean;
}

export type InspectResult =
  | {
      ok: true;
      width: number;
      height: number;
      /** [source id, pixels]: mask values (gray) or category ids (panoptic), ascending. */
      histogram: [number, number][];
      /** Panoptic: segment ids in the PNG that segments_info does not list, with their pixels. */
      strays: [number, number][];
    }
  | { ok: false; which: 'image' | 'mask'; reason: string };

/** Width and height from a PNG's IHDR chunk, without decoding it. */
export function pngSize(file: string): { width: number; height: number } {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(24);
    const read = readSync(fd, head, 0, 24, 0);
    if (read < 24 || head.readUInt32BE(0) !== 0x89504e47 || head.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG file');
    return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
  } finally {
    closeSync(fd);
  }
}

/** Counts pixels per value of a one-channel mask. */
export function grayHistogram(values: Int32Array): [number, number][] {
  const counts = new Float64Array(256);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    counts[v] = (counts[v] as number) + 1;
  }
  const out: [number, number][] = [];
  counts.forEach((c, v) => c > 0 && out.push([v, c]));
  return out;
}

/** Counts pixels per category of a COCO panoptic PNG; segment id 0 is unlabelled. */
export function panopticHistogram(segmentIds: Int32Array, segments: [number, number][]): { histogram: [number, number][]; strays: [number, number][] } {
  const category = new Map(segments);
  const perSegment = new Map<number, number>();
  for (let i = 0; i < segmentIds.length; i++) {
    const id = segmentIds[i] as number;
    perSegment.set(id, (perSegment.get(id) ?? 0) + 1);
  }
  const perCategory = new Map<number, number>();
  const strays: [number, number][] = [];
  for (const [id, pixels] of perSegment) {
    if (id === 0) continue;
    const cat = category.get(id);
    if (cat === undefined) strays.push([id, pixels]);
    else perCategory.set(cat, (perCategory.get(cat) ?? 0) + pixels);
  }
  const sort = (a: [number, number], b: [number, number]) => a[0] - b[0];
  return { histogram: [...perCategory].sort(sort), strays: strays.sort(sort) };
}

/** Width and height of an image from its header (sharp); throws when it cannot be read. */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  const meta = await sharp(file).metadata();
  if (!meta.width || !meta.height) throw new Error('no size in header');
  return { width: meta.width, height: meta.height };
}

/** Checks one sample: image readable, mask readable and the same size, and (optionally) its histogram. */
export async function inspectSample(task: InspectTask): Promise<InspectResult> {
  if (!existsSync(task.image)) return { ok: false, which: 'image', reason: 'image missing' };
  if (!existsSync(task.mask)) return { ok: false, which: 'mask', reason: 'mask missing' };
  let width: number;
  let height: number;
  try {
    ({ width, height } = await imageSize(task.image));
  } catch (err) {
    return { ok: false, which: 'image', reason: `unreadable image (${(err as Error).message})` };
  }
  let mw: number;
  let mh: number;
  let data: Int32Array | null = null;
  try {
    if (task.histogram) {
      const mask = readMaskValues(task.mask, task.encoding.kind);
      mw = mask.width;
      mh = mask.height;
      data = mask.values;
    } else if (task.encoding.kind === 'idd-polygons') {
      ({ width: mw, height: mh } = readIddPolygons(task.mask));
    } else {
      ({ width: mw, height: mh } = pngSize(task.mask));
    }
  } catch (err) {
    const what = task.encoding.kind === 'idd-polygons' ? 'unreadable polygons' : 'corrupt or truncated PNG';
    return { ok: false, which: 'mask', reason: `${what} (${(err as Error).message})` };
  }
  if (mw !== width || mh !== height) return { ok: false, which: 'mask', reason: `mask ${mw}×${mh} does not match image ${width}×${height}` };
  if (!data) return { ok: true, width, height, histogram: [], strays: [] };
  if (task.encoding.kind === 'panoptic-rgb') return { ok: true, width, height, ...panopticHistogram(data, task.segments ?? []) };
  return { ok: true, width, height, histogram: grayHistogram(data), strays: [] };
}
