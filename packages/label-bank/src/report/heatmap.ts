import { PNG } from 'pngjs';

// Viridis anchor colours, interpolated linearly.
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
];

/** Colour of t ∈ [0, 1] on the viridis scale. */
export function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const a = VIRIDIS[i] as [number, number, number];
  const b = VIRIDIS[i + 1] as [number, number, number];
  return [0, 1, 2].map((c) => Math.round((a[c] as number) + f * ((b[c] as number) - (a[c] as number)))) as [number, number, number];
}

export interface HeatmapOptions {
  cellPx: number;
  /** Values mapped to the ends of the colour scale. */
  min: number;
  max: number;
  /** Row indices where a new group starts: a white line is drawn before them. */
  boundaries: number[];
}

/** The colour of a cell with no value (NaN: e.g. a label the reference does not cover). */
export const NO_VALUE_GREY: [number, number, number] = [200, 200, 200];

/** An n × n matrix as a PNG heatmap, with white lines between groups; cells without a value (NaN) grey. */
export function heatmapPng(sim: Float32Array, n: number, opts: HeatmapOptions): Buffer {
  const size = n * opts.cellPx;
  const png = new PNG({ width: size, height: size });
  const range = opts.max - opts.min || 1;
  const lines = new Set(opts.boundaries.map((b) => b * opts.cellPx));
  for (let y = 0; y < size; y++) {
    const i = Math.floor(y / opts.cellPx);
    for (let x = 0; x < size; x++) {
      const j = Math.floor(x / opts.cellPx);
      const at = (y * size + x) * 4;
      const v = sim[i * n + j] as number;
      const [r, g, b] = lines.has(x) || lines.has(y) ? [255, 255, 255] : Number.isNaN(v) ? NO_VALUE_GREY : viridis((v - opts.min) / range);
      png.data[at] = r;
      png.data[at + 1] = g;
      png.data[at + 2] = b;
      png.data[at + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}
