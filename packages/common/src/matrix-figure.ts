/**
 * A square matrix heatmap as a picture a person can read on its own: names along both axes, axis
 * titles, a title and a colour bar with its scale. The cells come in as a ready-made raster (the
 * caller owns its colour scale); this module draws the margins around it.
 *
 * Text is SVG rendered by sharp's bundled librsvg/pango with the system's fonts found through
 * fontconfig (DejaVu Sans here; nothing is downloaded at run time). A machine without any font
 * would draw no glyphs: the tests of every picture check for text pixels in the margins.
 */
import type sharpType from 'sharp';

/**
 * sharp loaded on first use: every command imports this package, and label-bank's commands need no
 * sharp except for its report (importing sharp took 1.2–1.3 s here, a 2-core machine at load 13).
 */
async function loadSharp(): Promise<typeof sharpType> {
  return (await import('sharp')).default;
}

export type Rgb = [number, number, number];

/** A run of rows (or columns) [start, end) named by one label: a class (one cell) or a group. */
export interface AxisSpan {
  label: string;
  start: number;
  end: number;
}

export interface ColourBar {
  /** What the colour measures, drawn beside the bar. */
  label: string;
  min: number;
  max: number;
  colour: (t: number) => Rgb;
  /** How a tick value is written. */
  format: (v: number) => string;
}

export interface MatrixFigureOptions {
  /** PNG of the n × n cells, `cellPx` pixels each. */
  cells: Buffer;
  n: number;
  cellPx: number;
  rows: AxisSpan[];
  columns: AxisSpan[];
  rowTitle: string;
  columnTitle: string;
  /** First line bold; later lines smaller. */
  title: string[];
  colourBar: ColourBar;
  /** Font size of the axis names; defaults to what one span of one cell can hold (7–12 px). */
  namePx?: number;
}

/** Where the cells lie in the picture: what a page needs to map the mouse to a cell. */
export interface MatrixGeometry {
  width: number;
  height: number;
  left: number;
  top: number;
  cellPx: number;
  n: number;
}

export const FIGURE_FONT = 'DejaVu Sans, Verdana, sans-serif';
const MAX_NAME_CHARS = 28;
/** DejaVu Sans averages about 0.6 em per character; used to size the margins. */
const CHAR_EM = 0.62;

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const shorten = (s: string) => (s.length > MAX_NAME_CHARS ? `${s.slice(0, MAX_NAME_CHARS - 1)}…` : s);

/** Spans whose names fit without overlapping their neighbour (a span too thin to name is left unnamed). */
function namedSpans(spans: AxisSpan[], cellPx: number, fontPx: number): { label: string; centre: number; start: number; end: number }[] {
  const out: { label: string; centre: number; start: number; end: number }[] = [];
  for (const s of spans) {
    const centre = ((s.start + s.end) / 2) * cellPx;
    const last = out.at(-1);
    if (last && centre - last.centre < fontPx + 1) continue;
    out.push({ label: shorten(s.label), centre, start: s.start * cellPx, end: s.end * cellPx });
  }
  return out;
}

/** The figure as a PNG, and where its cells are. */
export async function matrixFigure(o: MatrixFigureOptions): Promise<{ png: Buffer; geometry: MatrixGeometry }> {
  const side = o.n * o.cellPx;
  const namePx = o.namePx ?? Math.max(7, Math.min(12, o.cellPx - 1));
  const rowNames = namedSpans(o.rows, o.cellPx, namePx);
  const colNames = namedSpans(o.columns, o.cellPx, namePx);
  const nameWidth = (names: { label: string }[]) => Math.ceil(Math.max(0, ...names.map((s) => s.label.length)) * namePx * CHAR_EM);
  const titlePx = 16;
  const subPx = 12;
  const axisPx = 13;
  const pad = 10;
  const tick = 4;
  const left = pad + axisPx + 8 + nameWidth(rowNames) + tick + 4;
  const top = pad + titlePx + (o.title.length - 1) * (subPx + 5) + 14;
  const barGap = 20;
  const barWidth = 16;
  const barLabels = 5;
  const bar = o.colourBar;
  const barTickText = Array.from({ length: barLabels }, (_, k) => bar.format(bar.min + ((bar.max - bar.min) * k) / (barLabels - 1)));
  const barTextWidth = Math.ceil(Math.max(...barTickText.map((t) => t.length)) * 11 * CHAR_EM);
  const barLeft = left + side + barGap;
  const titleWidth = Math.ceil(Math.max(...o.title.map((t, i) => t.length * (i === 0 ? titlePx : subPx) * CHAR_EM))) + 2 * pad;
  const width = Math.max(barLeft + barWidth + 6 + barTextWidth + 8 + axisPx + pad, titleWidth);
  const height = top + side + tick + 4 + nameWidth(colNames) + 8 + axisPx + pad;

  const text: string[] = [];
  const font = (px: number, extra = '') => `font-family="${FIGURE_FONT}" font-size="${px}"${extra}`;
  o.title.forEach((line, i) => {
    const y = pad + titlePx + (i === 0 ? 0 : i * (subPx + 5));
    text.push(`<text x="${pad}" y="${y}" ${font(i === 0 ? titlePx : subPx, i === 0 ? ' font-weight="bold"' : ' fill="#333"')}>${escapeXml(line)}</text>`);
  });
  for (const s of rowNames) {
    text.push(`<text x="${left - tick - 4}" y="${(top + s.centre + namePx * 0.35).toFixed(1)}" text-anchor="end" ${font(namePx)}>${escapeXml(s.label)}</text>`);
  }
  for (const s of colNames) {
    const x = (left + s.centre + namePx * 0.35).toFixed(1);
    const y = top + side + tick + 4;
    text.push(`<text transform="translate(${x},${y}) rotate(-90)" text-anchor="end" ${font(namePx)}>${escapeXml(s.label)}</text>`);
  }
  const ticks: string[] = [];
  // Tick marks at the edges of named spans wider than one cell (groups), at the centre of one-cell spans (classes).
  for (const s of rowNames) {
    for (const y of s.end - s.start > o.cellPx ? [s.start, s.end] : [s.centre]) ticks.push(`M${left - tick},${top + y}h${tick}`);
  }
  for (const s of colNames) {
    for (const x of s.end - s.start > o.cellPx ? [s.start, s.end] : [s.centre]) ticks.push(`M${left + x},${top + side}v${tick}`);
  }
  text.push(`<path d="${ticks.join('')}" stroke="#444" stroke-width="1" fill="none"/>`);
  text.push(`<rect x="${left - 0.5}" y="${top - 0.5}" width="${side + 1}" height="${side + 1}" fill="none" stroke="#444" stroke-width="1"/>`);
  // Axis titles: rows on the left, read bottom to top; columns centred below the names.
  text.push(`<text transform="translate(${pad + axisPx},${top + side / 2}) rotate(-90)" text-anchor="middle" ${font(axisPx, ' font-weight="bold"')}>${escapeXml(o.rowTitle)}</text>`);
  text.push(`<text x="${left + side / 2}" y="${height - pad}" text-anchor="middle" ${font(axisPx, ' font-weight="bold"')}>${escapeXml(o.columnTitle)}</text>`);
  // Colour bar: max at the top, min at the bottom, ticks with their values, and what it measures.
  barTickText.forEach((label, k) => {
    const y = top + side - (side * k) / (barLabels - 1);
    text.push(`<path d="M${barLeft + barWidth},${y}h4" stroke="#444"/>`);
    text.push(`<text x="${barLeft + barWidth + 6}" y="${(y + 4).toFixed(1)}" ${font(11)}>${escapeXml(label)}</text>`);
  });
  text.push(`<rect x="${barLeft - 0.5}" y="${top - 0.5}" width="${barWidth + 1}" height="${side + 1}" fill="none" stroke="#444"/>`);
  text.push(`<text transform="translate(${width - pad},${top + side / 2}) rotate(-90)" text-anchor="middle" ${font(axisPx)}>${escapeXml(bar.label)}</text>`);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${text.join('')}</svg>`;

  const barRaster = Buffer.alloc(barWidth * side * 3);
  for (let y = 0; y < side; y++) {
    const c = bar.colour(1 - y / Math.max(1, side - 1));
    for (let x = 0; x < barWidth; x++) barRaster.set(c, 3 * (y * barWidth + x));
  }
  const sharp = await loadSharp();
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([
      { input: o.cells, left, top },
      { input: barRaster, raw: { width: barWidth, height: side, channels: 3 }, left: barLeft, top },
      { input: Buffer.from(svg), left: 0, top: 0 },
    ])
    .png()
    .toBuffer();
  return { png, geometry: { width, height, left, top, cellPx: o.cellPx, n: o.n } };
}
