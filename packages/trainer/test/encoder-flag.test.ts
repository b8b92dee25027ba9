// train --encoder NAME: the bank's encoder named as every label-bank command names it; with two
// encoders and none named, the error lists them and says how to name one.
import path from 'node:path';
import { ManifestReader } from '@sentseg/dataset-tools';
import { describe, expect, it } from 'vitest';
import { configFromArgs } from '../src/commands.js';
import { readLabelEmbeddings } from '../src/label-embeddings.js';
import { tempDir, writeBank, writeWorld } from './fixtures.js';

const dir = tempDir('sentseg-encoder-flag-');

describe('train --encoder', () => {
  it('is the encoder setting', () => {
    expect(configFromArgs({ encoder: 'lexical' }).encoder).toBe('lexical');
    expect(configFromArgs({ encoder: 'lexical', set: ['encoder=Xenova/clip-vit-base-patch32'] }).encoder).toBe('Xenova/clip-vit-base-patch32');
  });

  it('picks one of two encoders by full id or by the name it was embedded with; none named lists both', async () => {
    const world = await writeWorld(path.join(dir, 'world'), { perSplit: 1 });
    writeBank(world.bank, 8, 3, 'lexical:dim=8,seed=0,depth=4@v1');
    const bank = await import('@sentseg/label-bank');
    const handle = bank.LabelBank.open(world.bank);
    handle.atomically(() => handle.registerModel('lexical:dim=8,seed=0,depth=4@v1', 'lexical:dim=8,seed=0,depth=4', 8));
    handle.close();
    const reader = ManifestReader.open(world.manifest);
    try {
      expect(readLabelEmbeddings(world.bank, reader, 'sentence', 'lexical:dim=8').encoderId).toBe('lexical:dim=8,seed=0,depth=4@v1');
      expect(readLabelEmbeddings(world.bank, reader, 'sentence', 'lexical:dim=8,seed=0,depth=4@v1').encoderId).toBe('lexical:dim=8,seed=0,depth=4@v1');
      expect(() => readLabelEmbeddings(world.bank, reader, 'sentence', null)).toThrow(/holds embeddings of 2 encoders: .*lexical:dim=8,seed=0,depth=4@v1 \(lexical:dim=8,seed=0,depth=4\).*train: --encoder NAME/);
    } finally {
      reader.close();
    }
  }, 120_000);
});
