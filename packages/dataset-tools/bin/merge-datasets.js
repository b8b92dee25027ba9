#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';

// A young generation of 2 × 1 MB: V8 otherwise grows it to 32 MB over the first ~30,000 images
// (everything that outlives a scavenge counts towards growing it), and peak RSS with it.
await launch(new URL('../dist/cli.js', import.meta.url), 'merge-datasets', ['--max-semi-space-size=1']);
