import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { byteHistogram, imageSize, jpegSize } from '../src/manifest/inspect.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir();

describe('image sizes from headers', () => {
  it('reads PNG, baseline and progressive JPEG sizes as sharp reports them, and WebP through sharp', async () => {
    const raw = Buffer.alloc(37 * 23 * 3, 90);
    const input = () => sharp(raw, { raw: { width: 37, height: 23, channels: 3 } });
    const files = {
      png: await input().png().toBuffer(),
      jpg: await input().jpeg({ quality: 80 }).toBuffer(),
      progressive: await input().jpeg({ progressive: true }).toBuffer(),
      webp: await input().webp().toBuffer(),
    };
    for (const [name, data] of Object.entries(files)) {
      const file = path.join(dir, `x-${name}`);
      writeFileSync(file, data);
      const meta = await sharp(file).metadata();
      expect(await imageSize(file), name).toEqual({ width: meta.width, height: meta.height });
      expect(await imageSize(file), name).toEqual({ width: 37, height: 23 });
    }
    expect(jpegSize(files.png)).toBeNull();
    expect(jpegSize(files.jpg.subarray(0, 6))).toBeNull();
  });

  it('throws for a file that is no image', async () => {
    const file = path.join(dir, 'not-an-image.jpg');
    writeFileSync(file, 'hello');
    await expect(imageSize(file)).rejects.toThrow();
  });
});

describe('byte histograms', () => {
  it('counts every value of runs, noise and unaligned views exactly as a plain count does', () => {
    const plain = (b: Uint8Array) => {
      const c = new Map<number, number>();
      for (const v of b) c.set(v, (c.get(v) ?? 0) + 1);
      return [...c].sort((x, y) => x[0] - y[0]);
    };
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
    const cases: Uint8Array[] = [new Uint8Array(0), Uint8Array.of(5), Uint8Array.of(1, 1, 1, 2, 2, 9, 9, 9, 9)];
    for (const len of [7, 8, 64, 1001, 4096]) {
      // Runs of random lengths, and pure noise.
      const runs = new Uint8Array(len);
      for (let i = 0, v = 0; i < len; i++) {
        if (rand() < 0.05) v = Math.floor(rand() * 256);
        runs[i] = v;
      }
      cases.push(runs, Uint8Array.from({ length: len }, () => Math.floor(rand() * 4)));
    }
    const big = new Uint8Array(1003).map((_, i) => (i < 500 ? 3 : 200));
    cases.push(big.subarray(1), big.subarray(2, 999));
    for (const b of cases) expect(byteHistogram(b), `length ${b.length}, offset ${b.byteOffset}`).toEqual(plain(b));
  });
});
