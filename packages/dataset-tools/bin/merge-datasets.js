#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';
import { MERGE_NODE_FLAGS } from '@sentseg/dataset-tools/node-flags';

// Node started with the merge's flags (node-flags.mjs says why): peak RSS flat with the number of images.
await launch(new URL('../dist/cli.js', import.meta.url), 'merge-datasets', MERGE_NODE_FLAGS);
