#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';
import { MERGE_NODE_FLAGS } from '@sentseg/dataset-tools/node-flags';

// `sentseg merge-datasets` runs the merge in a node started with the flags the merge-datasets bin
// gives it (flat peak RSS with the number of images: @sentseg/dataset-tools/node-flags); every other
// command runs in this node, as it starts: a 1 MB young generation would only slow training.
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
await launch(new URL('../dist/cli.js', import.meta.url), 'sentseg', command === 'merge-datasets' ? MERGE_NODE_FLAGS : []);
