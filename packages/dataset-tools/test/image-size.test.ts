import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imageSize, jpegSize } from '../src/manifest/inspect.js';
import { tempDir } from './helpers.js';

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
