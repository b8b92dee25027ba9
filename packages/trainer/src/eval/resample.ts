/**
 * From the model's 1/4-resolution class values to the image's own pixels, band by band of output
 * rows in plain JavaScript, so that no [pixels × labels] array of the whole image ever exists.
 * Each pass (a scale, mirrored or not) keeps its grid of values [gridH, gridW, K]; an output pixel
 * is a weighted sum of at most 4 × 4 grid cells: the bilinear ×4 upsampling of the grid to its
 * padded input size, cropped to the resized image, then the bilinear resize to the image's own
 * size (the same two steps, with the same weights, as `resizeBilinear` on whole tensors).
 */

import { bilinearTaps, type Taps } from '../model/ops.js';

/**
 * Taps from grid cells to image pixels along one axis: the grid (`grid` cells, covering the padded
 * input at 4 pixels a cell) upsampled ×4, cropped to `resized` pixels, optionally mirrored
 * (a pass on the flipped image), then resized to `size` pixels. At most 4 taps per pixel.
 */
export function gridToImageTaps(grid: number, resized: number, size: number, mirrored: boolean): Taps {
  const up = bilinearTaps(grid, grid * 4);
  const down = bilinearTaps(resized, size);
  const per = 4;
  const index = new Int32Array(per * size);
  const weight = new Float32Array(per * size);
  for (let i = 0; i < size; i++) {
    let n = 0;
    for (let a = 0; a < 2; a++) {
      const wa = down.weight[2 * i + a] as number;
      const r = down.index[2 * i + a] as number;
      const src = mirrored ? resized - 1 - r : r;
      for (let b = 0; b < 2; b++) {
        const w = wa * (up.weight[2 * src + b] as number);
        const g = up.index[2 * src + b] as number;
        let slot = -1;
        for (let s = 0; s < n; s++) if (index[per * i + s] === g) slot = s;
        if (slot < 0) {
          slot = n++;
          index[per * i + slot] = g;
        }
        weight[per * i + slot] = (weight[per * i + slot] as number) + w;
      }
    }
    // Unused slots read cell 0 with weight 0.
  }
  return { per, index, weight };
}

/** One pass's values on its grid, with the taps that take them to the image. */
export interface GridPass {
  /** Grid row `r`'s values [gridW, K]. */
  row(r: number): Float32Array;
  gridW: number;
  rows: Taps;
  cols: Taps;
}

/**
 * Rows [y0, y1) of the image: the passes' values resampled to the image and summed, written to
 * `out` [(y1 − y0), width, K]. `scratch` holds one pass's rows at grid width.
 */
export function resampleBand(passes: GridPass[], k: number, width: number, y0: number, y1: number, out: Float32Array, scratch: Float32Array): void {
  const bh = y1 - y0;
  out.fill(0, 0, bh * width * k);
  for (const pass of passes) {
    const rowLen = pass.gridW * k;
    const { rows, cols } = pass;
    scratch.fill(0, 0, bh * rowLen);
    for (let y = 0; y < bh; y++) {
      const dst = y * rowLen;
      for (let t = 0; t < rows.per; t++) {
        const w = rows.weight[rows.per * (y0 + y) + t] as number;
        if (w === 0) continue;
        const src = pass.row(rows.index[rows.per * (y0 + y) + t] as number);
        for (let e = 0; e < rowLen; e++) scratch[dst + e] = (scratch[dst + e] as number) + w * (src[e] as number);
      }
    }
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < width; x++) {
        const dst = (y * width + x) * k;
        for (let t = 0; t < cols.per; t++) {
          const w = cols.weight[cols.per * x + t] as number;
          if (w === 0) continue;
          const src = y * rowLen + (cols.index[cols.per * x + t] as number) * k;
          for (let c = 0; c < k; c++) out[dst + c] = (out[dst + c] as number) + w * (scratch[src + c] as number);
        }
      }
    }
  }
}

/**
 * For each image row y, the first grid row that rows y.. read with a non-zero weight (the grid's
 * height past the end): grid rows below it can be released once the rows before y are done.
 */
export function firstRowStillRead(rows: Taps, size: number, gridH: number): Int32Array {
  const first = new Int32Array(size + 1).fill(gridH);
  for (let y = size - 1; y >= 0; y--) {
    let m = first[y + 1] as number;
    for (let t = 0; t < rows.per; t++) if ((rows.weight[rows.per * y + t] as number) !== 0) m = Math.min(m, rows.index[rows.per * y + t] as number);
    first[y] = m;
  }
  return first;
}

/** Index of the largest of each pixel's K values (the first on ties), for `count` pixels. */
export function argmaxRows(values: Float32Array, k: number, count: number, out: Int32Array, offset: number): void {
  for (let p = 0; p < count; p++) {
    let best = 0;
    let max = values[p * k] as number;
    for (let c = 1; c < k; c++) {
      const v = values[p * k + c] as number;
      if (v > max) {
        max = v;
        best = c;
      }
    }
    out[offset + p] = best;
  }
}
