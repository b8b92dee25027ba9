/**
 * PNG files, read and written here only: the header (IHDR) and size, the fast decoder of 8-bit
 * non-interlaced images, the decoder of every sample at its stored depth (1 to 16 bits, Adam7 put
 * back in place), and the palette writer. A generic decoder would not do for masks: it expands a
 * palette to its colours, which are not class ids, and pngjs rescales every depth to 8 bits (id 300
 * of a 16-bit mask came back as 1, with no error). What the samples mean is the mask decoders'
 * business (mask-values.ts and the formats that register one).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { inflateSync, deflateSync, crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface PngHeader {
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
export function pngKind(h: PngHeader): string {
  return `${h.bitDepth}-bit ${COLOUR_TYPES[h.colorType]?.name ?? `colour type ${h.colorType}`}${h.interlaced ? ' interlaced' : ''} PNG`;
}

/** The IHDR of a whole PNG file's bytes, checked against the PNG spec. */
export function readPngHeader(buf: Buffer): PngHeader {
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

/** The unfiltered pixel bytes (height × width × bpp) of an 8-bit, non-interlaced PNG: the fast path. */
export function pngBytes8(buf: Buffer, width: number, height: number, bpp: number): Uint8Array {
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
export function pngSamples(buf: Buffer, h: PngHeader): { channels: number; samples: Uint16Array } {
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

/**
 * Width and height from the first bytes of a file (at least 24) when they are a PNG's signature and
 * IHDR, else null: the size without decoding.
 */
export function pngHeadSize(head: Buffer): { width: number; height: number } | null {
  if (head.length < 24 || head.readUInt32BE(0) !== 0x89504e47 || head.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

/** Width and height from a PNG file's IHDR chunk, without decoding it. */
export function pngSize(file: string): { width: number; height: number } {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(24);
    const size = pngHeadSize(head.subarray(0, readSync(fd, head, 0, 24, 0)));
    if (!size) throw new Error('not a PNG file');
    return size;
  } finally {
    closeSync(fd);
  }
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
