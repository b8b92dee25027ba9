/**
 * infer-bench --samples (issue 18): the opt-in mode's command line, and what it says when the
 * shared samples are not beside the checkout (a user's machine without ../shared).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evalScales, parseSamplesOptions, sampleFolders } from '../src/bench/infer-samples.js';
import { UsageError } from '../src/bench/measure.js';

describe('infer-bench --samples', () => {
  it('reads the samples, short edges and checkpoint, with 1024 and 2048 by default', () => {
    const o = parseSamplesOptions(['--samples', 'ade20k,sun-rgbd'], '/shared');
    expect(o).toEqual({ samples: ['ade20k', 'sun'], shortEdges: [1024, 2048], run: null, steps: 30, shared: '/shared' });
    const p = parseSamplesOptions(['--samples', 'sun', '--short-edges', '512,1080', '--run', 'runs/x', '--steps', '5'], '/shared');
    expect(p.shortEdges).toEqual([512, 1080]);
    expect(p.run).toBe(path.resolve('runs/x'));
    expect(p.steps).toBe(5);
    // The multi-scale eval runs at fractions of the short edge asked for, the largest being that edge; single-scale at it alone.
    expect(evalScales(1024, true)).toEqual([512, 768, 1024]);
    expect(evalScales(2048, false)).toEqual([2048]);
  });

  it('refuses a usage mistake with one line naming it', () => {
    const message = (args: string[]) => {
      try {
        parseSamplesOptions(args, '/shared');
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(message(['--samples', 'cityscapes'])).toMatch(/--samples takes ade20k, sun .*got "cityscapes"/);
    expect(message(['--samples', 'ade20k', '--short-edges', '1024,big'])).toMatch(/--short-edges takes positive integers, got "big"/);
    expect(message(['--samples', 'ade20k', '--window', '512'])).toMatch(/unknown argument "--window"/);
    expect(message(['--short-edges', '1024'])).toMatch(/--samples is required/);
    expect(message(['--samples'])).toMatch(/--samples needs a value/);
  });

  it('says the shared samples are absent, and where it looked, instead of measuring nothing silently', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'infer-samples-'));
    try {
      const options = parseSamplesOptions(['--samples', 'ade20k,sun'], dir);
      expect(() => sampleFolders(options)).toThrow(UsageError);
      expect(() => sampleFolders(options)).toThrow(/shared samples are absent .*ADE20K_test_data.*SUNRGBD_test_data.*nothing was measured/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
