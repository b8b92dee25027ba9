import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadClipTokenizer } from '../src/encoder/clip-tokenizer.js';
import { LabelBankError } from '../src/errors.js';
import { readLabelsFile } from '../src/labels-file.js';
import { HAS_TOKENIZER, MANIFESTS, PAPER_LABELS, tempDir, TOKENIZER_JSON } from '../../../tests/utils.js';
import { existsSync } from 'node:fs';

const labelsFile = path.join(MANIFESTS, 'labels.json');
const { groups, labels } = readLabelsFile(labelsFile);

describe('manifests/labels.json', () => {
  it.runIf(existsSync(PAPER_LABELS))('holds the paper\'s 238 labels in the paper\'s order', () => {
    const paper = readFileSync(PAPER_LABELS, 'utf8').trim().split('\n').map((l) => l.trim());
    expect(labels.map((l) => l.name)).toEqual(paper);
    expect(labels.map((l) => l.id)).toEqual(paper.map((_, i) => i));
  });

  it('puts every label in one of at least 10 semantic groups, each group used', () => {
    expect(groups.length).toBeGreaterThanOrEqual(10);
    for (const g of groups) expect(labels.some((l) => l.group === g)).toBe(true);
    expect(labels.map((l) => l.group).every((g) => groups.includes(g))).toBe(true);
  });

  it('describes every label as "An image of {name}. {one sentence}." with distinct texts', () => {
    for (const l of labels) {
      expect(l.description.startsWith(`An image of ${l.name}. `)).toBe(true);
      const definition = l.description.slice(`An image of ${l.name}. `.length);
      expect(definition).toMatch(/^[A-Z].*\.$/);
      expect(definition.slice(0, -1)).not.toMatch(/\.\s+[A-Z]/);
      expect(l.wikipedia.trim()).not.toBe('');
    }
    expect(new Set(labels.map((l) => l.description)).size).toBe(labels.length);
  });

  it.runIf(HAS_TOKENIZER)('fits every description in CLIP\'s 77-token window (real CLIP tokenizer)', async () => {
    const tokenizer = await loadClipTokenizer(TOKENIZER_JSON);
    // The tokenizer is the real one: the paper's own example sentence has a known length.
    expect(tokenizer.ids('An image of bus.')).toEqual([49406, 550, 2867, 539, 2840, 269, 49407]);
    const counts = labels.map((l) => ({ name: l.name, tokens: tokenizer.count(l.description) }));
    const over = counts.filter((c) => c.tokens > 77);
    expect(over).toEqual([]);
    expect(Math.max(...counts.map((c) => c.tokens))).toBeLessThanOrEqual(77);
  });
});

describe('readLabelsFile', () => {
  const dir = tempDir();
  const write = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  it('names the file and the reason for a bad labels file', () => {
    expect(() => readLabelsFile(write('broken.json', '{"labels": ['))).toThrow(/cannot read labels file .*broken\.json/);
    const dup = { groups: ['g'], labels: [{ id: 0, name: 'a', group: 'g', wikipedia: 'A', description: 'An image of a. x.' }, { id: 1, name: 'a', group: 'g', wikipedia: 'A', description: 'An image of a. y.' }] };
    expect(() => readLabelsFile(write('dup.json', dup))).toThrow(/label "a" appears twice: .*dup\.json/);
    const badId = { groups: ['g'], labels: [{ id: 3, name: 'a', group: 'g', wikipedia: 'A', description: 'd' }] };
    expect(() => readLabelsFile(write('id.json', badId))).toThrow(LabelBankError);
    const noGroup = { groups: ['g'], labels: [{ id: 0, name: 'a', group: 'h', wikipedia: 'A', description: 'd' }] };
    expect(() => readLabelsFile(write('group.json', noGroup))).toThrow(/unknown group "h"/);
  });
});
