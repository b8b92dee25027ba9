// The maths behind `report --reference` and `check-encoder`, against hand-computed values, and
// the reading of a reference file: every bad file is one error naming the file and the reason.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabelBankError } from '../src/errors.js';
import { matrixAgreement } from '../src/reference/agreement.js';
import { cosinesToReference } from '../src/reference/check-encoder.js';
import { readReferenceFile, referenceModelName } from '../src/reference/reference-file.js';
import { averageRanks, nearestNeighbours, spearman, upperTriangle } from '../src/report/rank-correlation.js';
import { tempDir } from '../../../tests/utils.js';

describe('Spearman rank correlation (hand-computed)', () => {
  it('gives tied values the mean of the ranks they span', () => {
    expect(Array.from(averageRanks([10, 20, 20, 30]))).toEqual([1, 2.5, 2.5, 4]);
    expect(Array.from(averageRanks([3, 1, 2, 1]))).toEqual([4, 1.5, 3, 1.5]);
    expect(Array.from(averageRanks([7, 7, 7]))).toEqual([2, 2, 2]);
  });

  it('is the Pearson correlation of the average ranks, exact with ties', () => {
    // ranks x: 1 2.5 2.5 4, y: 1 3 2 4 → Σdxdy 4.5, Σdx² 4.5, Σdy² 5 → 4.5/√22.5 = 3/√10.
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).toBeCloseTo(3 / Math.sqrt(10), 12);
    // Not the no-ties shortcut 1 − 6Σd²/(n(n²−1)) = 0.95.
    expect(spearman([1, 2, 2, 3], [1, 3, 2, 4])).not.toBeCloseTo(0.95, 3);
    // ranks y of 5 6 7 8 7: 1 2 3.5 5 3.5 → Σdxdy 8, Σdx² 10, Σdy² 9.5 → 8/√95.
    expect(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7])).toBeCloseTo(8 / Math.sqrt(95), 12);
  });

  it('is 1 for any increasing relation, −1 for a decreasing one, NaN for a constant series', () => {
    expect(spearman([1, 2, 3, 4], [1, 10, 100, 1000])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [0.9, 0.5, 0.2, -3])).toBeCloseTo(-1, 12);
    expect(spearman([1, 2, 3], [4, 4, 4])).toBeNaN();
    expect(() => spearman([1, 2], [1, 2, 3])).toThrow(/2 and 3/);
  });

  it('compares two similarity matrices over their pairs and their nearest neighbours', () => {
    const a = [1, 0.9, 0.1, 0.9, 1, 0.5, 0.1, 0.5, 1];
    const b = [1, 0.2, 0.3, 0.2, 1, 0.8, 0.3, 0.8, 1];
    expect(Array.from(upperTriangle(a, 3))).toEqual([0.9, 0.1, 0.5]);
    expect(Array.from(nearestNeighbours(a, 3))).toEqual([1, 0, 1]);
    expect(Array.from(nearestNeighbours(b, 3))).toEqual([2, 2, 1]);
    // pairs of a: 0.9 0.1 0.5 (ranks 3 1 2); of b: 0.2 0.3 0.8 (ranks 1 2 3): dx 1 −1 0, dy −1 0 1 → −1/√(2·2) = −0.5
    const got = matrixAgreement(a, b, 3);
    expect(got.spearman).toBeCloseTo(-0.5, 12);
    expect(got).toMatchObject({ labels: 3, sameNearest: 1 }); // only label 2 keeps its neighbour (1)
  });
});

describe('reference files', () => {
  const dir = tempDir('sentseg-reference-');
  const write = (name: string, content: unknown) => {
    const file = path.join(dir, name);
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };
  const refused = (file: string): string => {
    try {
      readReferenceFile(file);
    } catch (err) {
      expect(err).toBeInstanceOf(LabelBankError);
      expect((err as LabelBankError).code).toBe('BAD_REFERENCE');
      return (err as Error).message;
    }
    throw new Error(`${file} was accepted`);
  };

  it('reads the vectors L2-normalised, in file order, with the texts they encode', () => {
    const file = write('good.json', { prompt: 'a {name}', model: 'OpenAI CLIP ViT-B/32, encode_text, fp16', labels: { 'trash can': { source_name: 'trash_can', vector: [3, 4] }, bus: { vector: [0, 2] } } });
    const ref = readReferenceFile(file);
    expect(ref).toMatchObject({ names: ['trash can', 'bus'], texts: ['a trash_can', 'a bus'], dim: 2, prompt: 'a {name}' });
    expect(referenceModelName(ref)).toBe('OpenAI CLIP ViT-B/32');
    expect(referenceModelName({ ...ref, model: null })).toBe('good.json');
    [0.6, 0.8, 0, 1].forEach((v, i) => expect(ref.vectors[i]).toBeCloseTo(v, 6));
    // The cosine of a vector with its reference row, whatever its length.
    const cos = cosinesToReference([Float32Array.from([6, 8]), Float32Array.from([1, 0])], ref);
    expect(cos[0]).toBeCloseTo(1, 6);
    expect(cos[1]).toBeCloseTo(0, 6);
  });

  it('refuses a missing file, not JSON, a wrong shape, a dimension mismatch, a zero vector: one line naming the file', () => {
    const cases: [string, RegExp][] = [
      [path.join(dir, 'absent.json'), /absent\.json: does not exist$/],
      [write('text.json', 'not json\nat all'), /text\.json: is not JSON \(/],
      [write('array.json', [[1, 2]]), /array\.json: has no "labels" object; expected \{"prompt"/],
      [write('novector.json', { labels: { bus: { vec: [1] } } }), /novector\.json: label "bus" has no "vector" of finite numbers/],
      [write('strings.json', { labels: { bus: { vector: ['1', 2] } } }), /strings\.json: label "bus" has no "vector"/],
      [write('dims.json', { labels: { bus: { vector: [1, 2, 3] }, car: { vector: [1, 2] } } }), /dims\.json: dimension mismatch: "car" has a 2-number vector, "bus" 3$/],
      [write('zero.json', { labels: { bus: { vector: [0, 0] } } }), /zero\.json: label "bus" has an all-zero vector/],
      [write('empty.json', { labels: {} }), /empty\.json: holds no labels/],
      [write('prompt.json', { prompt: 'a photo', labels: { bus: { vector: [1] } } }), /prompt\.json: "prompt" must be a string holding \{name\}/],
    ];
    for (const [file, reason] of cases) {
      const message = refused(file);
      expect(message).toMatch(/^reference file /);
      expect(message).toMatch(reason);
      expect(message).not.toContain('\n');
    }
  });
});
