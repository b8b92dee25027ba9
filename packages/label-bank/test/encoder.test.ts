import { mkdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadClipTextEncoder } from '../src/clip/text.js';
import type { SentenceEncoder } from '../src/encoder/sentence-encoder.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { LabelBankError } from '../src/errors.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';

const dir = tempDir();

async function expectCode(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await promise.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LabelBankError);
  expect((err as LabelBankError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe.runIf(HAS_TOKENIZER)('CLIP text encoder through @huggingface/transformers (generated tiny model)', () => {
  let encoder: SentenceEncoder;
  const model = path.join(dir, 'tiny');

  beforeAll(async () => {
    writeTinyClipTextModel(model, { tokenizerJson: TOKENIZER_JSON, seed: 1, projectionDim: 48 });
    encoder = await loadClipTextEncoder(model);
  });

  it('loads from a local folder in transformers.js layout and names the model by its weights', () => {
    expect(encoder.modelId).toMatch(/^local:tiny@[0-9a-f]{16}$/);
    expect(encoder.maxTokens).toBe(77);
    expect(encoder.countTokens('An image of bus.')).toBe(7);
  });

  it('returns one L2-normalised float32 vector per text, of the projection size', async () => {
    const { vectors, truncated } = await encoder.encode(['An image of bus.', 'An image of dog. A dog is a pet.', 'An image of sky.']);
    expect(vectors).toHaveLength(3);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(48);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
    expect(truncated).toEqual([]);
    expect(Array.from(vectors[0] as Float32Array)).not.toEqual(Array.from(vectors[2] as Float32Array));
  });

  it('gives a text the same vector alone or in a padded batch', async () => {
    const alone = (await encoder.encode(['An image of bus.'])).vectors[0] as Float32Array;
    const batch = (await encoder.encode(['An image of a very long and wordy description of a bus.', 'An image of bus.'])).vectors[1] as Float32Array;
    for (let i = 0; i < alone.length; i++) expect(batch[i]).toBeCloseTo(alone[i] as number, 5);
  });

  it('cuts a text over 77 tokens to the window, keeping end-of-text last, and says so', async () => {
    const long = `An image of thing. ${'A very long sentence goes on. '.repeat(15)}`;
    const { vectors, truncated } = await encoder.encode([long]);
    expect(truncated).toEqual([{ text: long, tokens: encoder.countTokens(long) }]);
    expect(encoder.countTokens(long)).toBeGreaterThan(77);
    expect(norm(vectors[0] as Float32Array)).toBeCloseTo(1, 5);
    // Only the first 76 tokens + end-of-text count: a text with the same first 76 tokens encodes the same.
    const same = (await encoder.encode([`${long}And then something else entirely different.`])).vectors[0] as Float32Array;
    expect(Array.from(same)).toEqual(Array.from(vectors[0] as Float32Array));
  });

  it('writes the same weights for the same seed and different ones for another seed', async () => {
    const again = path.join(dir, 'again');
    const other = path.join(dir, 'other');
    writeTinyClipTextModel(again, { tokenizerJson: TOKENIZER_JSON, seed: 1, projectionDim: 48 });
    writeTinyClipTextModel(other, { tokenizerJson: TOKENIZER_JSON, seed: 2, projectionDim: 48 });
    const weights = (folder: string) => readFileSync(path.join(folder, 'onnx', 'text_model.onnx'));
    expect(weights(again).equals(weights(model))).toBe(true);
    expect(weights(other).equals(weights(model))).toBe(false);
    const [a, o] = await Promise.all([loadClipTextEncoder(again), loadClipTextEncoder(other)]);
    expect(a.modelId.split('@')[1]).toBe(encoder.modelId.split('@')[1]);
    expect(o.modelId).not.toBe(encoder.modelId);
  });

  it('refuses a missing folder, a folder that is not a text encoder, and broken weights', async () => {
    await expectCode(loadClipTextEncoder(path.join(dir, 'nowhere')), 'MODEL_MISSING', /model folder not found: .*nowhere/);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    await expectCode(loadClipTextEncoder(empty), 'NOT_A_TEXT_ENCODER', /no config\.json; no tokenizer\.json; no tokenizer_config\.json; no onnx\/text_model\.onnx/);
    const bert = path.join(dir, 'bert');
    cpSync(model, bert, { recursive: true });
    writeFileSync(path.join(bert, 'config.json'), JSON.stringify({ model_type: 'bert' }));
    await expectCode(loadClipTextEncoder(bert), 'NOT_A_TEXT_ENCODER', /model_type is "bert".*bert/);
    const broken = path.join(dir, 'broken');
    cpSync(model, broken, { recursive: true });
    writeFileSync(path.join(broken, 'onnx', 'text_model.onnx'), Buffer.from('not an onnx file'));
    await expectCode(loadClipTextEncoder(broken), 'NOT_A_TEXT_ENCODER', /cannot load CLIP text encoder .*broken/);
    rmSync(broken, { recursive: true });
  });
});
