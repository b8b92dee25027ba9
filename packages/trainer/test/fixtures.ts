// The trainer tests' run config: small and fast, on a world of tests/training-world.ts.
import type { World } from '../../../tests/training-world.js';
import { resolveConfig, type TrainConfig } from '../src/config.js';

/** A small, fast run config on a world. */
export function smallConfig(world: World, overrides: Record<string, unknown> = {}): TrainConfig {
  return resolveConfig([
    {
      where: 'test',
      values: {
        manifest: world.manifest,
        labelBank: world.bank,
        backend: 'wasm',
        steps: 6,
        checkpointEvery: 3,
        data: { batchSize: 3, shortEdge: 64, crop: 64, workers: 1, prefetch: 2 },
        optimizer: { lr: 1e-3 },
      },
    },
    { where: 'test overrides', values: overrides },
  ]);
}
