/**
 * Polygon rasterisation for datasets that ship polygons instead of label images (IDD's
 * *_gtFine_polygons.json, as the official toolkit's createLabels draws them with PIL): objects
 * are painted in file order onto the background value, later ones over earlier ones. A polygon
 * covers the pixels whose integer coordinates lie inside it or on its outline (PIL's
 * ImageDraw.polygon fills the interior and draws the outline in the same colour).
 */

export interface PolygonObject {
  value: number;
  /** Vertices [x, y] in pixel coordinates. */
  polygon: [number, number][];
}

function setPixel(values: Int32Array, width: number, height: number, x: number, y: number, value: number): void {
  if (x >= 0 && y >= 0 && x < width && y < height) values[y * width + x] = value;
}

/** The outline: a Bresenham line between consecutive (rounded) vertices, closing the ring. */
function drawOutline(values: Int32Array, width: number, height: number, pts: [number, number][], value: number): void {
  for (let i = 0; i < pts.length; i++) {
    const [ax, ay] = pts[i] as [number, number];
    const [bx, by] = pts[(i + 1) % pts.length] as [number, number];
    let x0 = Math.round(ax);
    let y0 = Math.round(ay);
    const x1 = Math.round(bx);
    const y1 = Math.round(by);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      setPixel(values, width, height, x0, y0, value);
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
}

/** Fills the interior by even-odd scanlines at integer y, each edge half-open in y. */
function fillInterior(values: Int32Array, width: number, height: number, pts: [number, number][], value: number): void {
  const ys = pts.map((p) => p[1]);
  const yStart = Math.max(0, Math.ceil(Math.min(...ys)));
  const yEnd = Math.min(height - 1, Math.floor(Math.max(...ys)));
  const xs: number[] = [];
  for (let y = yStart; y <= yEnd; y++) {
    xs.length = 0;
    for (let i = 0; i < pts.length; i++) {
      const [ax, ay] = pts[i] as [number, number];
      const [bx, by] = pts[(i + 1) % pts.length] as [number, number];
      if ((ay <= y && y < by) || (by <= y && y < ay)) xs.push(ax + ((y - ay) * (bx - ax)) / (by - ay));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k] as number));
      const to = Math.min(width - 1, Math.floor(xs[k + 1] as number));
      if (to >= from) values.fill(value, y * width + from, y * width + to + 1);
    }
  }
}

/** Paints the objects in order over `background`; width × height values, row-major. */
export function rasterizePolygons(width: number, height: number, objects: PolygonObject[], background: number): Int32Array {
  const values = new Int32Array(width * height).fill(background);
  for (const o of objects) {
    if (o.polygon.length === 0) continue;
    fillInterior(values, width, height, o.polygon, o.value);
    drawOutline(values, width, height, o.polygon, o.value);
  }
  return values;
}
