import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { grayMaskDecoder, pngMaskReason, readMaskBytes, type MaskDecoder, type MaskValues } from '../mask-values.js';
import { pngHeadSize } from '../png.js';
import type { InstanceSample, MaskEncoding, MaskEncodingKind } from '../formats/types.js';
import type { Problem } from '../errors.js';
import path from 'node:path';

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

/**
 * Counts pixels per byte value of a one-byte-per-pixel mask. Masks are long runs of one value, so
 * runs are measured and added once each, and where the bytes are 4-aligned a whole 32-bit word
 * equal to four copies of the run's value is skipped at once.
 */
export function byteHistogram(bytes: Uint8Array): [number, number][] {
  const counts = new Float64Array(256);
  const n = bytes.length;
  if (n > 0) {
    let run = bytes[0] as number;
    let start = 0;
    const step = (i: number) => {
      const v = bytes[i] as number;
      if (v !== run) {
        counts[run] = (counts[run] as number) + (i - start);
        run = v;
        start = i;
      }
    };
    let i = 1;
    if (bytes.byteOffset % 4 === 0 && n >= 8) {
      for (; i < 4; i++) step(i);
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n >> 2);
      for (let w = 1; w < words.length; w++) {
        if (words[w] === Math.imul(run, 0x01010101) >>> 0) continue;
        const at = w << 2;
        step(at);
        step(at + 1);
        step(at + 2);
        step(at + 3);
      }
      i = (n >> 2) << 2;
    }
    for (; i < n; i++) step(i);
    counts[run] = (counts[run] as number) + (n - start);
  }
  const out: [number, number][] = [];
  counts.forEach((c, v) => c > 0 && out.push([v, c]));
  return out;
}

/** Counts pixels per value of a one-channel mask (values 0..65,535: 8- or 16-bit gray, palette indices), never wrapped. */
export function grayHistogram(values: Int32Array): [number, number][] {
  let max = 0;
  for (let i = 0; i < values.length; i++) if ((values[i] as number) > max) max = values[i] as number;
  const counts = new Uint32Array(max + 1);
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
  // Segments come in runs along each row: one map update per run, not per pixel.
  let run = segmentIds.length > 0 ? (segmentIds[0] as number) : 0;
  let length = 0;
  for (let i = 0; i < segmentIds.length; i++) {
    const id = segmentIds[i] as number;
    if (id === run) {
      length += 1;
      continue;
    }
    perSegment.set(run, (perSegment.get(run) ?? 0) + length);
    run = id;
    length = 1;
  }
  if (length > 0) perSegment.set(run, (perSegment.get(run) ?? 0) + length);
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

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/**
 * A JPEG's stored width and height from its first SOF segment (the pixels as stored, as sharp's
 * metadata reports them), reading only the header; null when the bytes do not get that far.
 */
export function jpegSize(head: Buffer): { width: number; height: number } | null {
  if (head.length < 4 || head[0] !== 0xff || head[1] !== 0xd8) return null;
  let at = 2;
  while (at + 4 <= head.length) {
    if (head[at] !== 0xff) return null;
    const marker = head[at + 1] as number;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd9)) {
      at += 2; // no length
      continue;
    }
    const length = head.readUInt16BE(at + 2);
    if (SOF_MARKERS.has(marker)) {
      if (at + 9 > head.length) return null;
      const height = head.readUInt16BE(at + 5);
      const width = head.readUInt16BE(at + 7);
      return width > 0 && height > 0 ? { width, height } : null;
    }
    at += 2 + length;
  }
  return null;
}

/**
 * Width and height of an image from its header: PNG (IHDR) and JPEG (SOF) are read directly from
 * the first bytes; other formats, or headers these readers cannot follow, through sharp. Throws
 * when the image cannot be read.
 */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  // The first 4 KiB hold a PNG's IHDR and most JPEGs' SOF; a JPEG with large EXIF or ICC data gets 256 KiB.
  const fd = openSync(file, 'r');
  let head: Buffer;
  let jpeg: { width: number; height: number } | null = null;
  try {
    head = Buffer.alloc(4096);
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    const png = pngHeadSize(head);
    if (png) return png;
    jpeg = jpegSize(head);
    if (!jpeg && head.length === 4096 && head[0] === 0xff && head[1] === 0xd8) {
      const more = Buffer.alloc(262144);
      jpeg = jpegSize(more.subarray(0, readSync(fd, more, 0, more.length, 0)));
    }
  } finally {
    closeSync(fd);
  }
  if (jpeg) return jpeg;
  // sharp is loaded only here: a worker thread that never needs it starts ~0.3 s sooner.
  const { default: sharp } = await import('sharp');
  const meta = await sharp(file).metadata();
  if (!meta.width || !meta.height) throw new Error('no size in header');
  return { width: meta.width, height: meta.height };
}

/** A read that failed because the file is not there (checked this way rather than with an extra stat per file). */
const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * The decoder of an encoding: 'gray' directly, the others from mask-decoders.ts, imported on first
 * use (it loads every format adapter, which a worker reading gray masks never needs).
 */
async function decoderOf(kind: MaskEncodingKind): Promise<MaskDecoder> {
  if (kind === 'gray') return grayMaskDecoder;
  const { maskDecoder } = await import('../mask-decoders.js');
  return maskDecoder(kind);
}

/** Checks one sample: image readable, mask readable and the same size, and (optionally) its histogram. */

export async function inspectSample(task: InspectTask): Promise<InspectResult> {
  let width: number;
  let height: number;
  try {
    ({ width, height } = await imageSize(task.image));
  } catch (err) {
    return { ok: false, which: 'image', reason: missing(err) ? 'image missing' : `unreadable image (${(err as Error).message})` };
  }
  let mw: number;
  let mh: number;
  let data: Int32Array | null = null;
  let bytes: { width: number; height: number; bytes: Uint8Array } | null = null;
  const decoder = await decoderOf(task.encoding.kind);
  try {
    if (task.histogram && task.encoding.kind === 'gray' && (bytes = readMaskBytes(task.mask)) !== null) {
      // One byte per pixel: counted as stored, never widened.
      mw = bytes.width;
      mh = bytes.height;
    } else if (task.histogram) {
      const mask = decoder.values(task.mask);
      mw = mask.width;
      mh = mask.height;
      data = mask.values;
    } else {
      ({ width: mw, height: mh } = decoder.size(task.mask));
    }
  } catch (err) {
    if (missing(err)) return { ok: false, which: 'mask', reason: 'mask missing' };
    return { ok: false, which: 'mask', reason: decoder.unreadable(err) };
  }
  if (mw !== width || mh !== height) return { ok: false, which: 'mask', reason: `mask ${mw}×${mh} does not match image ${width}×${height}` };
  if (bytes) return { ok: true, width, height, histogram: byteHistogram(bytes.bytes), strays: [] };
  if (!data) return { ok: true, width, height, histogram: [], strays: [] };
  if (task.encoding.kind === 'panoptic-rgb') return { ok: true, width, height, ...panopticHistogram(data, task.segments ?? []) };
  return { ok: true, width, height, histogram: grayHistogram(data), strays: [] };
}

/** One instance-mask image to check and count: paths relative to `root`. */
export interface InstanceTask {
  root: string;
  sample: InstanceSample;
  histograms: boolean;
}

export type InstanceCheck =
  | { ok: true; width: number; height: number; instances: { sourceId: number; mask: string }[]; problems: Problem[]; counts: Map<number, number> }
  | { ok: false; reason: string };

/**
 * An instance-mask image: the image's size from its header; each binary mask read, scaled to the
 * image (nearest neighbour) and painted in order, later masks over earlier ones, to count pixels per
 * source class. A mask that cannot be read is a problem and is left out.
 */
export async function inspectInstances(task: InstanceTask): Promise<InstanceCheck> {
  const { root, sample, histograms } = task;
  const file = path.join(root, sample.image);
  let size: { width: number; height: number };
  try {
    size = await imageSize(file);
  } catch (err) {
    return { ok: false, reason: missing(err) ? 'image missing' : `unreadable image (${(err as Error).message})` };
  }
  const { width, height } = size;
  const instances: { sourceId: number; mask: string }[] = [];
  const problems: Problem[] = [];
  const painted = histograms ? new Int32Array(width * height).fill(-1) : null;
  for (const inst of sample.instances) {
    const maskFile = path.join(root, inst.mask);
    if (!existsSync(maskFile)) {
      problems.push({ file: inst.mask, reason: 'mask missing' });
      continue;
    }
    if (painted) {
      let mask: MaskValues;
      try {
        mask = grayMaskDecoder.values(maskFile);
      } catch (err) {
        problems.push({ file: inst.mask, reason: grayMaskDecoder.unreadable(err) });
        continue;
      }
      for (let y = 0; y < height; y++) {
        const my = Math.min(mask.height - 1, Math.floor(((y + 0.5) * mask.height) / height));
        for (let x = 0; x < width; x++) {
          const mx = Math.min(mask.width - 1, Math.floor(((x + 0.5) * mask.width) / width));
          if ((mask.values[my * mask.width + mx] as number) > 0) painted[y * width + x] = inst.sourceId;
        }
      }
    }
    instances.push(inst);
  }
  const counts = new Map<number, number>();
  if (painted) for (const v of painted) if (v >= 0) counts.set(v, (counts.get(v) ?? 0) + 1);
  return { ok: true, width, height, instances, problems, counts };
}
