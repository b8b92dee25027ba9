/**
 * What a reader of a picture relies on, checked on decoded pixels: text drawn in a margin (dark
 * pixels on the white background) and colours that differ by a clear margin (CIELAB ΔE76, written
 * here from the CIE formulas, independently of the code under test).
 */
import { PNG } from 'pngjs';

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** Pixels darker than mid-grey inside `r` (x1, y1 exclusive). */
export function darkPixels(png: PNG, r: Rect): number {
  let n = 0;
  for (let y = Math.max(0, r.y0); y < Math.min(png.height, r.y1); y++) {
    for (let x = Math.max(0, r.x0); x < Math.min(png.width, r.x1); x++) {
      const o = 4 * (y * png.width + x);
      const luma = 0.299 * (png.data[o] as number) + 0.587 * (png.data[o + 1] as number) + 0.114 * (png.data[o + 2] as number);
      if (luma < 110) n += 1;
    }
  }
  return n;
}

export function pixel(png: PNG, x: number, y: number): [number, number, number] {
  const o = 4 * (y * png.width + x);
  return [png.data[o] as number, png.data[o + 1] as number, png.data[o + 2] as number];
}

function lab(rgb: [number, number, number]): [number, number, number] {
  const [r, g, b] = rgb.map((c) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }) as [number, number, number];
  // sRGB → XYZ (D65), normalised by the white point.
  const xyz = [(0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883];
  const [fx, fy, fz] = xyz.map((t) => (t > 216 / 24389 ? Math.cbrt(t) : (24389 / 27 * t + 16) / 116)) as [number, number, number];
  return [116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)];
}

export function colourDistance(a: [number, number, number], b: [number, number, number]): number {
  const [p, q] = [lab(a), lab(b)];
  return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}
