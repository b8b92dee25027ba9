/**
 * Mask files as the values they hold, for the encodings every one-channel format shares. Gray masks
 * are read as stored: gray at any bit depth (1, 2, 4, 8 or 16: a generic dataset with more than 255
 * classes stores 16-bit gray, ids up to 65,535), or palette PNGs (Mapillary Vistas) whose palette
 * index is the class id. A gray mask saved as RGB, RGBA or gray+alpha is read when its channels
 * agree (R = G = B, fully opaque); any PNG whose values would otherwise be guessed is refused with a
 * MaskKindError naming its kind, so labels are never silently wrong. The encodings a single format
 * owns (COCO panoptic's RGB ids, IDD's polygons) have their decoder in that format's module, which
 * registers it (FormatAdapter.maskDecoders; mask-decoders.ts keeps the table).
 */
import { readFileSync } from 'node:fs';
import { pngBytes8, pngKind, pngSamples, pngSize, readPngHeader, type PngHeader } from './png.js';

export interface MaskValues {
  width: number;
  height: number;
  /** One value per pixel, row-major. */
  values: Int32Array;
}

/** A mask PNG of a kind that cannot give trustworthy values for its encoding; the message names the kind. */
export class MaskKindError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaskKindError';
  }
}

/** How the files of one MaskEncoding are read. */
export interface MaskDecoder {
  /** Every pixel's value (source class id, or segment id for panoptic). */
  values(file: string): MaskValues;
  /** Width and height, as cheaply as the encoding allows (a PNG's header). */
  size(file: string): { width: number; height: number };
  /** Why a file of this encoding could not be read, for a problem row. */
  unreadable(err: unknown): string;
}

/** Why a mask PNG could not be read: a kind that cannot hold trustworthy values, or damage. */
export const pngMaskReason = (err: unknown) => (err instanceof MaskKindError ? `unsupported mask: ${err.message}` : `corrupt or truncated PNG (${(err as Error).message})`);

/** One value per pixel of a gray mask stored with several channels, refused unless R = G = B and fully opaque. */
function sameChannels(h: PngHeader, channels: number, samples: Uint16Array): Int32Array {
  const colours = h.colorType === 2 || h.colorType === 6 ? 3 : 1;
  const alpha = h.colorType === 4 || h.colorType === 6;
  const opaque = (1 << h.bitDepth) - 1;
  const values = new Int32Array(h.width * h.height);
  for (let i = 0; i < values.length; i++) {
    const v = samples[i * channels] as number;
    const differs = colours === 3 && (samples[i * channels + 1] !== v || samples[i * channels + 2] !== v);
    if (differs || (alpha && samples[i * channels + colours] !== opaque)) {
      const where = `(${i % h.width}, ${Math.floor(i / h.width)})`;
      const why = differs ? `channels differ at ${where} (a colour-coded mask, not class ids)` : `pixel ${where} is not opaque`;
      throw new MaskKindError(`${pngKind(h)} whose ${why}: a class-id mask must be one value per pixel (gray or palette PNG)`);
    }
    values[i] = v;
  }
  return values;
}

/**
 * The bytes of a one-byte-per-pixel mask PNG (8-bit gray, or 8-bit palette indices), without
 * widening them to Int32; null for any other PNG (read those with readMaskValues).
 */
export function readMaskBytes(file: string): { width: number; height: number; bytes: Uint8Array } | null {
  const buf = readFileSync(file);
  const h = readPngHeader(buf);
  if (h.bitDepth !== 8 || h.interlaced || (h.colorType !== 0 && h.colorType !== 3)) return null;
  return { width: h.width, height: h.height, bytes: pngBytes8(buf, h.width, h.height, 1) };
}

/** A one-channel mask's values: 8-bit gray or palette decoded directly, any other PNG sample by sample. */
function grayValues(file: string): MaskValues {
  const buf = readFileSync(file);
  const h = readPngHeader(buf);
  const { width, height } = h;
  if (h.bitDepth === 8 && !h.interlaced && (h.colorType === 0 || h.colorType === 3)) {
    return { width, height, values: Int32Array.from(pngBytes8(buf, width, height, 1)) };
  }
  const { channels, samples } = pngSamples(buf, h);
  return { width, height, values: channels === 1 ? Int32Array.from(samples) : sameChannels(h, channels, samples) };
}

/** 'gray': the value is the class id (ADE20K, Cityscapes, BDD100K, SUN RGB-D, Mapillary, IDD's PNGs, generic; OpenImages' binary masks). */
export const grayMaskDecoder: MaskDecoder = { values: grayValues, size: pngSize, unreadable: pngMaskReason };

const noMask = (): never => {
  throw new Error('a box-only dataset has no masks');
};

/** 'none': box-only datasets (Objects365) have no mask to read. */
export const noMaskDecoder: MaskDecoder = { values: noMask, size: noMask, unreadable: pngMaskReason };
