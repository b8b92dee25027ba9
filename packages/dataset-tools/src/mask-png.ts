/**
 * Mask PNGs as the values they hold. One-channel masks are read as stored: gray at any bit depth
 * (1, 2, 4, 8 or 16: a generic dataset with more than 255 classes stores 16-bit gray, ids up to
 * 65,535), or palette PNGs (Mapillary Vistas) whose palette index is the class id. A generic
 * decoder would expand a palette to its colours, which are not class ids, and pngjs rescales every
 * depth to 8 bits (id 300 of a 16-bit mask came back as 1, with no error). COCO panoptic RGB masks
 * give segment ids R + 256·G + 256²·B. A gray mask saved as RGB, RGBA or gray+alpha is read when
 * its channels agree (R = G = B, fully opaque); any PNG whose values would otherwise be guessed is
 * refused with a MaskKindError naming its kind, so labels are never silently wrong.
 */
import { readFileSync } from 'node:fs';
import { inflateSync, deflateSync, crc32 } from 'node:zlib';
import { readIddPolygons } from './formats/idd.js';
import type { MaskEncodingKind } from './formats/types.js';

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

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Colour type → its name and the channels of one pixel, with the bit depths the PNG spec allows. */
const COLOUR_TYPES: Record<number, { name: string; channels: number; depths: number[] }> = {
  0: { name: 'gray', channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { name: 'RGB', channels: 3, depths: [8, 16] },
  3: { name: 'palette', channels: 1, depths: [1, 2, 4, 8] },
  4: { name: 'gray+alpha', channels: 2, depths: [8, 16] },
  6: { name: 'RGBA', channels: 4, depths: [8, 16] },
};

/** "16-bit gray PNG", "8-bit RGBA interlaced PNG": what a refusal names. */
function pngKind(h: PngHeader): string {
  return `${h.bitDepth}-bit ${COLOUR_TYPES[h.colorType]?.name ?? `colour type ${h.colorType}`}${h.interlaced ? ' interlaced' : ''} PNG`;
}

function readHeader(buf: Buffer): PngHeader {
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG file');
  const h = { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20), bitDepth: buf[24] as number, colorType: buf[25] as number, interlaced: buf[28] === 1 };
  if (!COLOUR_TYPES[h.colorType]?.depths.includes(h.bitDepth) || (buf[28] as number) > 1) {
    throw new Error(`invalid PNG header (bit depth ${h.bitDepth}, colour type ${h.colorType}, interlace method ${buf[28]})`);
  }
  return h;
}

/** The IDAT stream, inflated: filter byte + row bytes for each row (of each Adam7 pass). */
function inflatedData(buf: Buffer): Buffer {
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= buf.length; ) {
    const length = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + length > buf.length) throw new Error(`truncated ${type} chunk`);
    if (type === 'IDAT') idat.push(buf.subarray(o + 8, o + 8 + length));
    if (type === 'IEND') break;
    o += 12 + length;
  }
  return inflateSync(Buffer.concat(idat));
}

/**
 * `height` rows of `stride` bytes starting at `at` in the inflated data, each row's filter undone
 * (none, sub, up, average, Paeth); `bpp` is the filter's byte distance (bytes per pixel, at least 1).
 */
function unfilter(raw: Uint8Array, at: number, height: number, stride: number, bpp: number): Uint8Array {
  if (raw.length < at + height * (stride + 1)) throw new Error(`image data holds ${raw.length} bytes, ${at + height * (stride + 1)} expected`);
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const src = at + y * (stride + 1) + 1;
    const dst = y * stride;
    const up = dst - stride;
    const filter = raw[src - 1] as number;
    const first = y > 0;
    switch (filter) {
      case 0:
        out.set(raw.subarray(src, src + stride), dst);
        break;
      case 1:
        for (let i = 0; i < bpp; i++) out[dst + i] = raw[src + i] as number;
        for (let i = bpp; i < stride; i++) out[dst + i] = ((raw[src + i] as number) + (out[dst + i - bpp] as number)) & 255;
        break;
      case 2:
        if (!first) out.set(raw.subarray(src, src + stride), dst);
        else for (let i = 0; i < stride; i++) out[dst + i] = ((raw[src + i] as number) + (out[up + i] as number)) & 255;
        break;
      case 3:
        for (let i = 0; i < bpp; i++) out[dst + i] = ((raw[src + i] as number) + ((first ? (out[up + i] as number) : 0) >> 1)) & 255;
        for (let i = bpp; i < stride; i++) {
          const b = first ? (out[up + i] as number) : 0;
          out[dst + i] = ((raw[src + i] as number) + (((out[dst + i - bpp] as number) + b) >> 1)) & 255;
        }
        break;
      case 4:
        // Paeth: a = left, b = up, c = up-left; with no row above it is the sub filter.
        for (let i = 0; i < bpp; i++) out[dst + i] = ((raw[src + i] as number) + (first ? (out[up + i] as number) : 0)) & 255;
        for (let i = bpp; i < stride; i++) {
          const a = out[dst + i - bpp] as number;
          const b = first ? (out[up + i] as number) : 0;
          const c = first ? (out[up + i - bpp] as number) : 0;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          out[dst + i] = ((raw[src + i] as number) + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
        }
        break;
      default:
        throw new Error(`unknown PNG filter ${filter} in row ${y}`);
    }
  }
  return out;
}

/** The unfiltered pixel bytes (height × width × bpp) of an 8-bit, non-interlaced PNG. */
function unfilteredBytes(buf: Buffer, width: number, height: number, bpp: number): Uint8Array {
  return unfilter(inflatedData(buf), 0, height, width * bpp, bpp);
}

/** Adam7 passes: first column, first row, column step, row step. */
const ADAM7: [number, number, number, number][] = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/**
 * Every sample of any PNG at its stored depth (1 to 16 bits, never rescaled), `channels` per pixel,
 * row-major, Adam7 passes put back in place. Slower than the 8-bit paths; used for the other kinds.
 */
function decodeSamples(buf: Buffer, h: PngHeader): { channels: number; samples: Uint16Array } {
  const channels = (COLOUR_TYPES[h.colorType] as { channels: number }).channels;
  const bits = channels * h.bitDepth;
  const bpp = Math.max(1, bits >> 3);
  const raw = inflatedData(buf);
  const samples = new Uint16Array(h.width * h.height * channels);
  let at = 0;
  for (const [x0, y0, dx, dy] of h.interlaced ? ADAM7 : [[0, 0, 1, 1] as const]) {
    const pw = Math.ceil((h.width - x0) / dx);
    const ph = Math.ceil((h.height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * bits) / 8);
    const rows = unfilter(raw, at, ph, stride, bpp);
    at += ph * (stride + 1);
    for (let py = 0; py < ph; py++) {
      const row = py * stride;
      for (let px = 0; px < pw; px++) {
        const dst = ((y0 + py * dy) * h.width + x0 + px * dx) * channels;
        for (let c = 0; c < channels; c++) {
          const k = px * channels + c;
          let v: number;
          if (h.bitDepth === 16) v = ((rows[row + 2 * k] as number) << 8) | (rows[row + 2 * k + 1] as number);
          else if (h.bitDepth === 8) v = rows[row + k] as number;
          else {
            const bit = k * h.bitDepth;
            v = ((rows[row + (bit >> 3)] as number) >> (8 - h.bitDepth - (bit & 7))) & ((1 << h.bitDepth) - 1);
          }
          samples[dst + c] = v;
        }
      }
    }
  }
  return { channels, samples };
}

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
  const h = readHeader(buf);
  if (h.bitDepth !== 8 || h.interlaced || (h.colorType !== 0 && h.colorType !== 3)) return null;
  return { width: h.width, height: h.height, bytes: unfilteredBytes(buf, h.width, h.height, 1) };
}

/**
 * Reads a mask's values: a one-channel PNG (gray at any depth, or palette index), panoptic 8-bit RGB
 * segment ids, or IDD polygons rasterised to level3Ids. Throws MaskKindError for a PNG whose kind
 * cannot hold the encoding's values (a 16-bit RGB panoptic mask, a colour-coded gray mask).
 */
export function readMaskValues(file: string, encoding: MaskEncodingKind): MaskValues {
  if (encoding === 'idd-polygons') return readIddPolygons(file);
  if (encoding === 'none') throw new Error('a box-only dataset has no masks');
  const buf = readFileSync(file);
  const h = readHeader(buf);
  const { width, height } = h;
  // The common mask encodings, decoded directly: 8-bit gray or palette (one value per pixel) and 8-bit RGB (panoptic ids).
  if (h.bitDepth === 8 && !h.interlaced && encoding === 'gray' && (h.colorType === 0 || h.colorType === 3)) {
    return { width, height, values: Int32Array.from(unfilteredBytes(buf, width, height, 1)) };
  }
  if (h.bitDepth === 8 && !h.interlaced && encoding === 'panoptic-rgb' && h.colorType === 2) {
    const rgb = unfilteredBytes(buf, width, height, 3);
    const values = new Int32Array(width * height);
    for (let i = 0; i < values.length; i++) values[i] = (rgb[3 * i] as number) + 256 * (rgb[3 * i + 1] as number) + 65536 * (rgb[3 * i + 2] as number);
    return { width, height, values };
  }
  if (encoding === 'panoptic-rgb') {
    // Segment ids are 24 bits of 8-bit R, G, B; any other kind would give other ids.
    if (h.bitDepth !== 8 || (h.colorType !== 2 && h.colorType !== 6)) throw new MaskKindError(`${pngKind(h)}: a COCO panoptic mask is 8-bit RGB (segment id = R + 256·G + 256²·B)`);
    const { channels, samples } = decodeSamples(buf, h);
    const values = new Int32Array(width * height);
    for (let i = 0; i < values.length; i++) {
      if (channels === 4 && samples[4 * i + 3] !== 255) throw new MaskKindError(`${pngKind(h)} whose pixel (${i % width}, ${Math.floor(i / width)}) is not opaque: a COCO panoptic mask is 8-bit RGB`);
      values[i] = (samples[channels * i] as number) + 256 * (samples[channels * i + 1] as number) + 65536 * (samples[channels * i + 2] as number);
    }
    return { width, height, values };
  }
  const { channels, samples } = decodeSamples(buf, h);
  return { width, height, values: channels === 1 ? Int32Array.from(samples) : sameChannels(h, channels, samples) };
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit palette PNG whose pixel values are palette indices (as Mapillary Vistas ships its labels). */
export function encodePalettePng(width: number, height: number, indices: Uint8Array, palette: [number, number, number][]): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const raw = Buffer.alloc(height * (width + 1));
  // Alternate the row filters (none / sub / up) so readers must undo them.
  for (let y = 0; y < height; y++) {
    const filter = y % 3;
    raw[y * (width + 1)] = filter;
    for (let x = 0; x < width; x++) {
      const v = indices[y * width + x] as number;
      const a = x > 0 ? (indices[y * width + x - 1] as number) : 0;
      const b = y > 0 ? (indices[(y - 1) * width + x] as number) : 0;
      raw[y * (width + 1) + 1 + x] = (filter === 0 ? v : filter === 1 ? v - a : v - b) & 255;
    }
  }
  const plte = Buffer.from(palette.flat());
  return Buffer.concat([SIGNATURE, chunk('IHDR', ihdr), chunk('PLTE', plte), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
