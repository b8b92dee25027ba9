/**
 * `sentseg-model box-embeddings` (and `sentseg box-embeddings`): the CLIP embeddings of the box
 * crops L_WD trains against, computed into the cache without training (what the PyTorch bridge
 * reads), then read from it; refused in one line when no dataset trains with L_WD or no vision
 * tower is named.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeTinyClipVisionModel } from '@sentseg/label-bank';
import { tempDir } from './utils.js';
import { addBoxDataset, writeWorld, type World } from './training-world.js';
import { BIN, startCli } from './run-cli.js';

const dir = tempDir('sentseg-box-embeddings-');
let world: World;
let boxes = 0;
let vision = '';

beforeAll(async () => {
  world = await writeWorld(dir);
  ({ boxes } = await addBoxDataset(world.manifest, path.join(dir, 'o365'), [{ id: 6, name: 'Car' }, { id: 1, name: 'Person' }]));
  vision = path.join(dir, 'tiny-clip-vision');
  writeTinyClipVisionModel(vision, { seed: 3, projectionDim: 24 });
}, 120_000);

describe('box-embeddings', () => {
  it('fills the cache once, then reads it', async () => {
    const args = ['box-embeddings', '--manifest', world.manifest, '--clip-vision', vision];
    const first = await startCli(BIN.sentsegModel, args, { cwd: dir }).done;
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const cache = `${world.manifest}.box-embeddings.sqlite`;
    expect(first.stdout).toMatch(new RegExp(`^box cache: ${cache.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n${boxes} boxes of o365-fixture: ${boxes} computed, 0 from the cache \\(local:tiny-clip-vision@[0-9a-f]{16}, 24-d\\)\\n$`));
    expect(existsSync(cache)).toBe(true);
    for (const suffix of ['-wal', '-shm']) expect(existsSync(`${cache}${suffix}`)).toBe(false);
    const again = await startCli(BIN.sentseg, args, { cwd: dir }).done;
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${boxes} boxes of o365-fixture: 0 computed, ${boxes} from the cache`);
  }, 120_000);

  it('refuses in one line when no dataset trains with L_WD, or no vision tower is named', async () => {
    const dense = await startCli(BIN.sentsegModel, ['box-embeddings', '--manifest', world.manifest, '--clip-vision', vision, '--set', 'data.datasets=["cityscapes"]'], { cwd: dir }).done;
    expect(dense.code).toBe(2);
    expect(dense.stderr.trim().split('\n')).toHaveLength(1);
    expect(dense.stderr).toContain(`no dataset of ${world.manifest} trains with L_WD (cityscapes: L_HD): there are no boxes to embed`);
    const noTower = await startCli(BIN.sentsegModel, ['box-embeddings', '--manifest', world.manifest, '--set', `boxCache=${path.join(dir, 'never.sqlite')}`], { cwd: dir }).done;
    expect(noTower.code).toBe(2);
    expect(noTower.stderr).toContain('o365-fixture need a CLIP vision tower');
    expect(existsSync(path.join(dir, 'never.sqlite'))).toBe(false);
  }, 60_000);
});
