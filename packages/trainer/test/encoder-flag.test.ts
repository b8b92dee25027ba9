// train --encoder NAME: the bank's encoder named as every label-bank command names it; with two
// encoders and none named, the error lists them and says how to name one.
import path from 'node:path';
import { ManifestReader } from '@sentseg/dataset-tools';
import { describe, expect, it } from 'vitest';
import { LabelBankError } from '@sentseg/label-bank';
import type { CheckpointState } from '../src/checkpoint.js';
import { configFromArgs } from '../src/commands.js';
import { labelEmbeddingsFor } from '../src/eval/evaluate.js';
import { readLabelEmbeddings } from '../src/label-embeddings.js';
import { tempDir } from '../../../tests/utils.js';
import { writeBank, writeWorld } from '../../../tests/training-world.js';

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

  it('a label bank\'s refusal reaches the user as the label bank\'s error, its code kept', async () => {
    const world = await writeWorld(path.join(dir, 'kinds'), { perSplit: 1 });
    writeBank(world.bank, 8, 3, 'lexical:dim=8,seed=0,depth=4@v1');
    const reader = ManifestReader.open(world.manifest);
    const caught = (f: () => unknown): unknown => {
      try {
        f();
      } catch (err) {
        return err;
      }
      return undefined;
    };
    try {
      const train = caught(() => readLabelEmbeddings(world.bank, reader, 'sentence', 'lexical:dim=64'));
      expect(train).toBeInstanceOf(LabelBankError);
      expect((train as LabelBankError).code).toBe('NO_EMBEDDINGS');
      const state: CheckpointState = { step: 1, seed: 0, labels: [], encoderId: 'lexical:dim=64', labelText: 'sentence', embedDim: 8, savedAt: '' };
      const evaluation = caught(() => labelEmbeddingsFor(world.bank, ['road'], state));
      expect(evaluation).toBeInstanceOf(LabelBankError);
      expect((evaluation as LabelBankError).code).toBe('NO_EMBEDDINGS');
    } finally {
      reader.close();
    }
  }, 120_000);
});
