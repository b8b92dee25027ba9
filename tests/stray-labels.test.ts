/**
 * Labels are never silently wrong: a mask whose ids map to neither a label nor ignore (255) is a
 * problem the user sees, named with its dataset and file, in train and in eval (issue 12).
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ManifestReader, readMaskValues } from '@sentseg/dataset-tools';
import { writeGrayPng } from '@sentseg/dataset-tools/testing';
import { tempDir } from './utils.js';
import { writeWorld, type World } from './training-world.js';
import { BIN, startCli } from './run-cli.js';

const dir = tempDir('sentseg-stray-labels-');
let world: World;
/** A Cityscapes training mask and a validation mask, each given 12 pixels of an id no class has. */
const stray: { train: string; val: string } = { train: '', val: '' };
const STRAY_ID = 200;

/** Writes 12 pixels (a 4×3 block at the top left) of `id` into a gray mask. */
function spoil(file: string, id: number): void {
  const mask = readMaskValues(file, 'gray');
  const bytes = Uint8Array.from(mask.values);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) bytes[y * mask.width + x] = id;
  writeGrayPng(file, mask.width, mask.height, bytes);
}

beforeAll(async () => {
  world = await writeWorld(dir);
  const reader = ManifestReader.open(world.manifest);
  try {
    // The id is no class of Cityscapes and not one of its ignore values.
    expect(reader.lut('cityscapes')[STRAY_ID]).toBe(255);
    expect(reader.lut('cityscapes', 255, -1)[STRAY_ID]).toBe(-1);
    stray.train = reader.sample(reader.imageIds('cityscapes', 'train')[1] as number)?.mask as string;
    stray.val = reader.sample(reader.imageIds('cityscapes', 'val')[0] as number)?.mask as string;
  } finally {
    reader.close();
  }
  spoil(stray.train, STRAY_ID);
  spoil(stray.val, STRAY_ID);
}, 60_000);

const start = (args: string[]) => startCli(BIN.sentseg, args, { cwd: dir });
const common = () => ['--manifest', world.manifest, '--label-bank', world.bank, '--backend', 'wasm', '--set', 'data.datasets=[cityscapes]', '--set', 'data.batchSize=2', '--set', 'data.shortEdge=64', '--set', 'data.crop=64'];

describe('a mask with ids that are neither a label nor ignored', () => {
  it('train skips its image, names the dataset and the file, trains on the others and exits 2; eval skips it, names it and exits 2', async () => {
    const run = path.join(dir, 'run');
    // 4 training images, 4 steps of 2: the sampler's first epoch reaches every image.
    const trained = await start(['train', ...common(), '--steps', '4', '--out', run]).done;
    expect(trained.code).toBe(2);
    expect(trained.stderr).toContain(`skipped cityscapes ${stray.train}: mask ids that are neither a label nor ignored (255): ${STRAY_ID} (12 px); 12 px in all (no class of dataset cityscapes in the manifest`);
    expect(trained.stderr).toMatch(new RegExp(`error: 1 image skipped because their masks hold ids that are neither a label nor ignored \\(first: cityscapes ${stray.train.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; listed above, \\d+ skips in all\\)`));
    expect(trained.stdout).toContain('steps 0 → 4 of 4');

    const evaluated = await start(['eval', '--run', run, '--manifest', world.manifest, '--dataset', 'cityscapes', '--split', 'val', '--short-edge', '48']).done;
    expect(evaluated.code).toBe(2);
    expect(evaluated.stderr).toContain(`${stray.val}: mask ids that are neither a label nor ignored (255): ${STRAY_ID} (12 px)`);
    expect(evaluated.stderr).toContain('dataset cityscapes');
    expect(evaluated.stderr).toContain('error: 1 of 2 images skipped (listed above): the mIoU covers the other 1');
    expect(evaluated.stdout).toMatch(/^cityscapes val, 1 image/m);
  }, 240_000);
});
