import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { embedLabels } from '../src/embed.js';
import { LexicalEncoder, parseLexicalSpec, wordTokens } from '../src/encoder/lexical.js';
import { OneHotEncoder } from '../src/encoder/one-hot.js';
import { loadTextEncoder } from '../src/encoder/load.js';
import { LabelBankError } from '../src/errors.js';
import { WordNet, wordNetCandidates } from '../src/sources/wordnet.js';
import { LabelBank } from '../src/store/bank.js';
import { tempDir } from '../../../tests/utils.js';

const wordnet = new WordNet();
const dir = tempDir();
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] as number), 0);

describe('WordNet synsets, lemmas and hypernyms', () => {
  it('reads the hypernym pointers of a synset from data.noun', () => {
    const house = wordnet.nounSenses('house')[0];
    if (!house) throw new Error('no house');
    const up = wordnet.synset(house.synsetOffset).hypernyms.map((o) => wordnet.synset(o).words);
    // house.n.01 is a kind of building and a kind of dwelling in WordNet 3.1.
    expect(up.flat()).toEqual(expect.arrayContaining(['building', 'dwelling']));
    const street = wordnet.nounSenses('street')[0];
    const thoroughfare = wordnet.synset(wordnet.synset(street?.synsetOffset as number).hypernyms[0] as number);
    expect(thoroughfare.words).toContain('thoroughfare');
    expect(thoroughfare.hypernyms.map((o) => wordnet.synset(o).words).flat()).toContain('road');
  });

  it('undoes regular plurals only when WordNet has the base noun', () => {
    expect(wordnet.nounLemma('wheels')).toBe('wheel');
    expect(wordnet.nounLemma('branches')).toBe('branch');
    expect(wordnet.nounLemma('families')).toBe('family');
    expect(wordnet.nounLemma('grass')).toBe('grass');
    expect(wordnet.nounLemma('qwertyzzzs')).toBeNull();
  });

  it('looks up COCO-style names without their -other-merged suffixes', () => {
    expect(wordNetCandidates('sky-other-merged', null)).toEqual(['sky-other-merged', 'sky']);
    expect(wordNetCandidates('tree-merged', null)).toEqual(['tree-merged', 'tree']);
    expect(wordNetCandidates('building-other-merged', null)[1]).toBe('building');
  });
});

describe('the lexical baseline encoder', () => {
  const encoder = new LexicalEncoder({ dim: 256 });
  const text = (name: string, gloss: string) => `An image of ${name}. ${gloss}`;
  const car = text('car', 'A motor vehicle with four wheels; usually propelled by an internal combustion engine.');
  const automobile = text('automobile', 'A motor vehicle with four wheels; usually propelled by an internal combustion engine.');
  const dog = text('dog', 'A member of the genus Canis that has been domesticated by man since prehistoric times.');
  const street = text('street', 'A thoroughfare that is lined with buildings.');
  const road = text('road', 'An open way for travel or transportation.');
  const sky = text('sky', 'The atmosphere and outer space as viewed from the earth.');

  it('gives unit vectors that do not depend on the other texts of the call', async () => {
    const alone = (await encoder.encode([dog])).vectors[0] as Float32Array;
    const { vectors } = await encoder.encode([car, dog, sky]);
    expect(vectors.map((v) => v.length)).toEqual([256, 256, 256]);
    for (const v of vectors) expect(dot(v, v)).toBeCloseTo(1, 5);
    expect(Array.from(vectors[1] as Float32Array)).toEqual(Array.from(alone));
    const again = (await new LexicalEncoder({ dim: 256 }).encode([dog])).vectors[0] as Float32Array;
    expect(Array.from(again)).toEqual(Array.from(alone));
    const otherSeed = (await new LexicalEncoder({ dim: 256, seed: 1 }).encode([dog])).vectors[0] as Float32Array;
    expect(Array.from(otherSeed)).not.toEqual(Array.from(alone));
  });

  it('puts synonyms and hypernym-related names closer than unrelated ones', async () => {
    const [vCar, vAuto, vDog, vStreet, vRoad, vSky] = (await encoder.encode([car, automobile, dog, street, road, sky])).vectors as Float32Array[];
    expect(dot(vCar!, vAuto!)).toBeGreaterThan(0.9);
    expect(dot(vCar!, vAuto!)).toBeGreaterThan(dot(vCar!, vDog!) + 0.5);
    expect(dot(vStreet!, vRoad!)).toBeGreaterThan(dot(vStreet!, vSky!));
  });

  it('weights terms by rarity in WordNet glosses and drops the template and function words', () => {
    const weights = encoder.termWeights(text('lawn', 'A field of cultivated and mowed grass.'));
    expect(weights.has('image')).toBe(false);
    expect(weights.has('of')).toBe(false);
    expect(wordTokens('An image of sky-other-merged.')).toEqual(['image', 'sky', 'merged']);
    // "mowed" is rarer in WordNet's glosses than "field", so it weighs more per occurrence.
    expect(weights.get('mowed') as number).toBeGreaterThan(weights.get('field') as number);
    // The name's hypernym chain is in: a lawn is a field (a kind of tract of land).
    expect([...weights.keys()]).toEqual(expect.arrayContaining(['lawn', 'grass', 'tract']));
  });

  it('is named by a spec that loadTextEncoder understands, and bad specs are refused', async () => {
    expect(parseLexicalSpec('lexical')).toEqual({ dim: 512, seed: 0, depth: 4 });
    expect(parseLexicalSpec('lexical:dim=64,seed=3')).toEqual({ dim: 64, seed: 3, depth: 4 });
    expect(parseLexicalSpec('./models/clip')).toBeNull();
    expect(() => parseLexicalSpec('lexical:dims=64')).toThrow(/bad lexical encoder setting "dims=64"/);
    const loaded = await loadTextEncoder('lexical:dim=64');
    expect(loaded.modelId).toBe('lexical:dim=64,seed=0,depth=4@v1');
    expect((await loadTextEncoder(loaded.location)).modelId).toBe(loaded.modelId);
    await expect(loadTextEncoder('onehot:12')).rejects.toThrow(/cannot encode new texts/);
  });

  it('embeds a whole label bank, cached under its own model id', async () => {
    const bank = LabelBank.open(path.join(dir, 'bank.sqlite'));
    try {
      const lexical = new LexicalEncoder({ dim: 64 });
      const first = await embedLabels(bank, lexical);
      expect(first.encoded).toBe(first.texts);
      const second = await embedLabels(bank, lexical);
      expect(second.encoded).toBe(0);
      const m = bank.embeddingMatrix('sentence', lexical.modelId);
      expect(m.dim).toBe(64);
      expect(m.labels.length).toBe(bank.labels().length);
    } finally {
      bank.close();
    }
  });
});

describe('one-hot label embeddings', () => {
  it('gives text i the unit vector e_i and refuses texts outside the vocabulary', async () => {
    const onehot = new OneHotEncoder(['An image of car.', 'An image of sky.', 'An image of road.']);
    const { vectors } = await onehot.encode(['An image of road.', 'An image of car.']);
    expect(vectors.map((v) => Array.from(v))).toEqual([
      [0, 0, 1],
      [1, 0, 0],
    ]);
    await expect(onehot.encode(['An image of automobile.'])).rejects.toThrow(LabelBankError);
    expect(new OneHotEncoder(['a', 'b']).modelId).not.toBe(new OneHotEncoder(['b', 'a']).modelId);
    expect(() => new OneHotEncoder(['a', 'a'])).toThrow(/twice/);
  });
});
