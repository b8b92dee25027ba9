import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { addLabel } from '../src/add-label.js';
import { embedLabels, embedTexts } from '../src/embed.js';
import { loadClipTextEncoder } from '../src/clip/text.js';
import type { SentenceEncoder } from '../src/encoder/sentence-encoder.js';
import { writeTinyClipTextModel } from '../src/clip/tiny-text.js';
import { LabelBankError } from '../src/errors.js';
import { CONFUSION_COSINE } from '../src/neighbours.js';
import { labelText, LabelBank } from '../src/store/bank.js';
import { HAS_TOKENIZER, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';

const dir = tempDir();

/** The real encoder, counting the texts that reach it. */
function counting(inner: SentenceEncoder): SentenceEncoder & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    modelId: inner.modelId,
    location: inner.location,
    maxTokens: inner.maxTokens,
    countTokens: (t) => inner.countTokens(t),
    encode: async (texts) => {
      seen.push(...texts);
      return inner.encode(texts);
    },
    dispose: () => inner.dispose(),
  };
}

describe.runIf(HAS_TOKENIZER)('label-bank embed', () => {
  let real: SentenceEncoder;
  beforeAll(async () => {
    const model = path.join(dir, 'tiny');
    writeTinyClipTextModel(model, { tokenizerJson: TOKENIZER_JSON, seed: 3 });
    real = await loadClipTextEncoder(model);
  });

  it('encodes the sentence and word-only text of all 238 labels, then only what changed', async () => {
    const bank = LabelBank.open(path.join(dir, 'embed.sqlite'));
    const enc = counting(real);
    const first = await embedLabels(bank, enc);
    expect(first).toMatchObject({ labels: 238, texts: 476, encoded: 476, cached: 0, truncated: [] });
    expect(enc.seen).toHaveLength(476);
    expect(first.labelsPerSecond).toBeGreaterThan(0);

    const second = await embedLabels(bank, enc);
    expect(second).toMatchObject({ encoded: 0, cached: 476 });
    expect(enc.seen).toHaveLength(476);

    bank.setDescription('bus', 'An image of bus. A bus carries many people along a road.', 'manual');
    const third = await embedLabels(bank, enc);
    expect(third).toMatchObject({ encoded: 1, cached: 475 });
    expect(enc.seen.at(-1)).toBe('An image of bus. A bus carries many people along a road.');
    bank.close();
  });

  it('serves the trainer a labels × dim Float32Array per text kind, rows in label order', async () => {
    const bank = LabelBank.open(path.join(dir, 'embed.sqlite'));
    const sentence = bank.embeddingMatrix('sentence');
    const word = bank.embeddingMatrix('word');
    expect(sentence.dim).toBe(64);
    expect(sentence.data).toBeInstanceOf(Float32Array);
    expect(sentence.data).toHaveLength(238 * 64);
    expect(sentence.labels.map((l) => l.id)).toEqual(Array.from({ length: 238 }, (_, i) => i));
    const bus = sentence.labels.findIndex((l) => l.name === 'bus');
    const direct = (await real.encode([labelText(sentence.labels[bus]!, 'sentence')])).vectors[0]!;
    const row = sentence.data.subarray(bus * 64, (bus + 1) * 64);
    for (let i = 0; i < 64; i++) expect(row[i]).toBeCloseTo(direct[i]!, 5);
    expect(Array.from(word.data.subarray(bus * 64, (bus + 1) * 64))).not.toEqual(Array.from(row));
    bank.close();
  });

  it('says which labels are not embedded yet for a model', () => {
    const bank = LabelBank.open(path.join(dir, 'partial.sqlite'));
    expect(() => bank.embeddingMatrix('sentence')).toThrow(/no embeddings in .*run label-bank embed/);
    return embedLabels(bank, real, { labels: [bank.requireLabel('bus')] }).then(() => {
      expect(() => bank.embeddingMatrix('sentence')).toThrow(/sentence embeddings missing for model local:tiny@.*: backpack, umbrella/);
      bank.close();
    });
  });

  it('truncates a stored description over 77 tokens with a warning naming the label', async () => {
    const bank = LabelBank.open(path.join(dir, 'long.sqlite'));
    const long = `An image of sky. ${'The sky is wide and blue and full of clouds over the hills. '.repeat(8)}`;
    bank.setDescription('sky', long, 'manual');
    const result = await embedLabels(bank, real, { labels: [bank.requireLabel('sky')] });
    expect(result.truncated).toEqual([{ name: 'sky', kind: 'sentence', tokens: real.countTokens(long) }]);
    expect(bank.embedding(real.modelId, long)).toHaveLength(64);
    bank.close();
  });

  it('encodes new texts for the trainer through the cache', async () => {
    const bank = LabelBank.open(path.join(dir, 'embed.sqlite'));
    const enc = counting(real);
    const out = await embedTexts(bank, enc, ['An image of bus.', 'An image of a zebra crossing.']);
    expect(out.vectors).toHaveLength(2);
    expect(enc.seen).toEqual(['An image of a zebra crossing.']);
    bank.close();
  });
});

describe.runIf(HAS_TOKENIZER)('label-bank add', () => {
  let real: SentenceEncoder;
  let bankFile: string;
  beforeAll(async () => {
    const model = path.join(dir, 'tiny-add');
    writeTinyClipTextModel(model, { tokenizerJson: TOKENIZER_JSON, seed: 4 });
    real = await loadClipTextEncoder(model);
    bankFile = path.join(dir, 'add.sqlite');
    const bank = LabelBank.open(bankFile);
    await embedLabels(bank, real);
    bank.close();
  });

  it('adds a zero-shot label with its embeddings and lists its 5 nearest labels', async () => {
    const bank = LabelBank.open(bankFile);
    const result = await addLabel(bank, real, { name: 'zebra crossing', description: 'A zebra crossing is a road crossing marked with white stripes.', source: 'manual', group: 'ground' });
    expect(result.label).toMatchObject({ id: 238, name: 'zebra crossing', origin: 'added', group: 'ground' });
    expect(result.label.description).toBe('An image of zebra crossing. A zebra crossing is a road crossing marked with white stripes.');
    expect(result.neighbours).toHaveLength(5);
    const cosines = result.neighbours.map((n) => n.cosine);
    expect([...cosines].sort((a, b) => b - a)).toEqual(cosines);
    expect(bank.embeddingMatrix('sentence').labels).toHaveLength(239);
    bank.close();
  });

  it('warns when the new label is as close as ' + CONFUSION_COSINE + ' to an existing one', async () => {
    const bank = LabelBank.open(bankFile);
    const bus = bank.requireLabel('bus');
    const result = await addLabel(bank, real, { name: 'coach', description: bus.description, source: 'manual' });
    expect(result.confusable[0]).toEqual({ name: 'bus', cosine: expect.closeTo(1, 5) });
    bank.close();
  });

  it('refuses a description over 77 tokens, an empty one, or a taken name, and leaves the bank as it was', async () => {
    const bank = LabelBank.open(bankFile);
    const labels = bank.labels().length;
    const vectors = bank.countEmbeddings();
    const tooLong = 'A very long description that keeps going on and on. '.repeat(10);
    const refused = async (p: Promise<unknown>, code: string) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(LabelBankError);
      expect((err as LabelBankError).code).toBe(code);
      return err as Error;
    };
    const err = await refused(addLabel(bank, real, { name: 'ramble', description: tooLong, source: 'manual' }), 'TOO_MANY_TOKENS');
    expect(err.message).toMatch(/description of "ramble" is \d+ CLIP tokens; CLIP.s text encoder reads at most 77/);
    await refused(addLabel(bank, real, { name: 'blank', description: '  ', source: 'manual' }), 'EMPTY_DESCRIPTION');
    await refused(addLabel(bank, real, { name: 'bus', description: 'x', source: 'manual' }), 'LABEL_EXISTS');
    expect(bank.labels()).toHaveLength(labels);
    expect(bank.countEmbeddings()).toBe(vectors);
    bank.close();
  });
});
