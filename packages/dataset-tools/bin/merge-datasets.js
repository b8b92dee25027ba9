#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';

// Peak RSS flat with the number of images: a young generation of 2 × 1 MB (V8 otherwise grows it
// to 32 MB over the first ~30,000 images: everything that outlives a scavenge counts towards growing
// it), and gc() for the merge to collect the old generation every 10,000 images (manifest/writer.ts).
await launch(new URL('../dist/cli.js', import.meta.url), 'merge-datasets', ['--max-semi-space-size=1', '--expose-gc']);
