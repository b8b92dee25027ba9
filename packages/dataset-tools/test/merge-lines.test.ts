import { describe, expect, it } from 'vitest';
import { continuedLine, resumeLine } from '../src/commands/merge.js';

/** The resume lines of merge-datasets count like the rest of its output: plural() and thousands separators. */
describe('the lines a resumed merge prints', () => {
  const staged = { file: '/m.sqlite.merging-big', firstProblem: null };

  it('count thousands with separators', () => {
    expect(resumeLine('big', { ...staged, images: 12345, problems: 1200, items: 13545 })).toBe(
      'resuming big: 12,345 images and 1,200 problems (the first 13,545 items of its listing) were written by an interrupted run to /m.sqlite.merging-big; continuing after them',
    );
    expect(continuedLine('big', 12345)).toBe('big: continued an interrupted merge (12,345 images were already written)');
  });

  it('say "1 image", not "1 images"', () => {
    expect(resumeLine('big', { ...staged, images: 1, problems: 0, items: 1 })).toBe(
      'resuming big: 1 image (the first 1 item of its listing) was written by an interrupted run to /m.sqlite.merging-big; continuing after them',
    );
    expect(resumeLine('big', { ...staged, images: 0, problems: 1, items: 1 })).toContain('resuming big: 0 images and 1 problem (the first 1 item of its listing) were written');
    expect(continuedLine('big', 1)).toBe('big: continued an interrupted merge (1 image was already written)');
  });

  it('a staging file not continued says why', () => {
    expect(resumeLine('big', { ...staged, images: 0, problems: 0, items: 0, discarded: 'it was written with other arguments' })).toBe(
      'big: /m.sqlite.merging-big, left by an interrupted run, is not continued (it was written with other arguments); big starts afresh',
    );
  });
});
