/**
 * Mask PNGs as the values they hold. One-channel masks are read as stored: 8-bit grayscale, or
 * 8-bit palette PNGs (Mapillary Vistas) whose palette index is the class id. A generic decoder
 * would expand a palette to its colours, which are not class ids. COCO panoptic RGB masks give
 * segment ids R + 256·G + 256²·B.
 */
import { readFileSync } from 'node:fs';
import { inflateSync, deflateSync, crc32 } from 'node:zlib';
import { PNG } from 'pngjs';
import { readIddPolygons } from './formats/idd.js';
import type { MaskEncodingKind } from './formats/types.js';

export interface MaskValues {
  width: number;
  height: number;
  /** One value per pixel, row-major. */
  values: Int32Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * The unfiltered pixel bytes (height × width × bpp) of an 8-bit, non-interlaced PNG: the IDAT
 * stream inflated and each row's filter undone (none, sub, up, average, Paeth).
 */
function unfilteredBytes(buf: Buffer, width: number, height: number, bpp: number): Uint8Array {
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= buf.length; ) {
    const length = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    if (o + 12 + length > buf.length) throw new Error(`truncated ${type} chunk`);
    if (type === 'IDAT') idat.push(buf.subarray(o + 8, o + 8 + length));
    if (type === 'IEND') break;
    o += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) throw new Error(`image data holds ${raw.length} bytes, ${height * (stride + 1)} expected`);
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const src = y * (stride + 1) + 1;
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

/**
 * Reads a mask's values: a one-channel PNG (gray or palette index), panoptic RGB segment ids, or
 * IDD polygons rasterised to level3Ids.
 */
/**
 * The bytes of a one-byte-per-pixel mask PNG (8-bit gray, or 8-bit palette indices), without
 * widening them to Int32; null for any other PNG (read those with readMaskValues).
 */
export function readMaskBytes(file: string): { width: number; height: number; bytes: Uint8Array } | null {
  const buf = readFileSync(file);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG file');
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  if (buf[24] !== 8 || buf[28] !== 0 || (buf[25] !== 0 && buf[25] !== 3)) return null;
  return { width, height, bytes: unfilteredBytes(buf, width, height, 1) };
}

export function readMaskValues(file: string, encoding: MaskEncodingKind): MaskValues {
  if (encoding === 'idd-polygons') return readIddPolygons(file);
  if (encoding === 'none') throw new Error('a box-only dataset has no masks');
  const buf = readFileSync(file);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG file');
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const bitDepth = buf[24] as number;
  const colorType = buf[25] as number;
  const interlace = buf[28] as number;
  if (encoding === 'gray' && colorType === 3) {
    if (bitDepth !== 8 || interlace !== 0) throw new Error(`palette PNG with bit depth ${bitDepth}${interlace ? ', interlaced' : ''} is not supported for masks`);
    return { width, height, values: Int32Array.from(unfilteredBytes(buf, width, height, 1)) };
  }
  // The common mask encodings, decoded directly: 8-bit gray (one value per pixel) and 8-bit RGB (panoptic ids).
  if (bitDepth === 8 && interlace === 0 && encoding === 'gray' && colorType === 0) return { width, height, values: Int32Array.from(unfilteredBytes(buf, width, height, 1)) };
  if (bitDepth === 8 && interlace === 0 && encoding === 'panoptic-rgb' && colorType === 2) {
    const rgb = unfilteredBytes(buf, width, height, 3);
    const values = new Int32Array(width * height);
    for (let i = 0; i < values.length; i++) values[i] = (rgb[3 * i] as number) + 256 * (rgb[3 * i + 1] as number) + 65536 * (rgb[3 * i + 2] as number);
    return { width, height, values };
  }
  const png = PNG.sync.read(buf);
  const values = new Int32Array(png.width * png.height);
  const d = png.data;
  if (encoding === 'panoptic-rgb') for (let i = 0; i < values.length; i++) values[i] = (d[4 * i] as number) + 256 * (d[4 * i + 1] as number) + 65536 * (d[4 * i + 2] as number);
  else for (let i = 0; i < values.length; i++) values[i] = d[4 * i] as number;
  return { width: png.width, height: png.height, values };
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
