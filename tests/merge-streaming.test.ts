/**
 * An Objects365-style JSON larger than the memory merge-datasets is given is streamed through: the
 * merge runs under a V8 heap cap (--max-old-space-size) that reading the same file whole does not
 * survive. The full-size figures (a 2.2 GB JSON of 1M images and 15M boxes) are in the scale bench.
 */
import { closeSync, linkSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader } from '@sentseg/dataset-tools';
import { writeImage } from '@sentseg/dataset-tools/testing';
import { REPO, tempDir } from './utils.js';
import { runCli, runProgram } from './run-cli.js';

const MERGE = path.join(REPO, 'packages', 'dataset-tools', 'dist', 'cli.js');
const dir = tempDir('sentseg-merge-stream-');
const root = path.join(dir, 'o365');
const json = path.join(root, 'annotations', 'zhiyuan_objv2_train.json');
const IMAGES = 400;
const BOXES_PER_IMAGE = 60;
/** The heap cap, in MB, and the JSON size it must stay below: at least 1.5 times the cap. */
const CAP_MB = 32;

beforeAll(async () => {
  const source = path.join(dir, 'source.jpg');
  await writeImage(source, 64, 48, 1);
  mkdirSync(path.dirname(json), { recursive: true });
  const fd = openSync(json, 'w');
  // Each annotation carries a polygon, as Objects365 and COCO instance files do: the file is large
  // for its number of boxes, and every byte of it goes through the parser.
  const polygon = JSON.stringify([Array.from({ length: 300 }, (_, k) => Number((k * 0.173).toFixed(3)))]);
  writeSync(fd, '{"images":[');
  for (let i = 0; i < IMAGES; i++) {
    const file = `images/v2/patch0/objects365_v2_${String(i).padStart(8, '0')}.jpg`;
    mkdirSync(path.dirname(path.join(root, 'train', file)), { recursive: true });
    linkSync(source, path.join(root, 'train', file));
    writeSync(fd, `${i ? ',' : ''}{"id":${i + 1},"file_name":"${file}","width":64,"height":48}`);
  }
  writeSync(fd, '],"annotations":[');
  for (let i = 0; i < IMAGES; i++) {
    const parts: string[] = [];
    for (let k = 0; k < BOXES_PER_IMAGE; k++) parts.push(`{"id":${i * BOXES_PER_IMAGE + k + 1},"image_id":${i + 1},"category_id":${1 + (k % 365)},"bbox":[${k % 40},${k % 30},10,8],"area":80,"iscrowd":0,"segmentation":${polygon}}`);
    writeSync(fd, `${i ? ',' : ''}${parts.join(',')}`);
  }
  writeSync(fd, '],"categories":[{"id":1,"name":"Person"}]}');
  closeSync(fd);
});

describe('an annotation JSON larger than the memory cap', () => {
  it('is streamed through by merge-datasets under a heap cap that reading it whole does not survive', async () => {
    const size = statSync(json).size;
    expect(size).toBeGreaterThan(1.5 * CAP_MB * 2 ** 20);
    const env = { NODE_OPTIONS: `--max-old-space-size=${CAP_MB}` };
    // The cap is real: the same file read and parsed whole runs out of memory under it.
    const whole = await runProgram(process.execPath, ['-e', `JSON.parse(require('fs').readFileSync(${JSON.stringify(json)}, 'utf8'))`], { cwd: dir, env });
    expect(whole.code).not.toBe(0);
    expect(whole.stderr).toMatch(/heap out of memory/);

    const out = path.join(dir, 'm.sqlite');
    const r = await runCli(MERGE, ['--dataset', `objects365=${root}`, '--out', out, '--workers', '1'], { cwd: dir, env });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`objects365 +objects365 +${IMAGES} images +0 problems`));
    const reader = ManifestReader.open(out);
    const boxes = reader.rowCount('boxes');
    reader.close();
    // Categories the taxonomy ignores keep no box rows; every other box is there.
    expect(boxes).toBeGreaterThan(0.5 * IMAGES * BOXES_PER_IMAGE);
    expect(boxes).toBeLessThanOrEqual(IMAGES * BOXES_PER_IMAGE);
  });
});
