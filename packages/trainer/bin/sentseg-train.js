#!/usr/bin/env node
// The bin's old name, kept until 0.2: the same commands as sentseg-model, after one line on stderr.
import { launch } from '@sentseg/common/launch';

process.stderr.write('note: sentseg-train is now called sentseg-model; the old name will be removed in 0.2\n');
await launch(new URL('../dist/cli.js', import.meta.url), 'sentseg-model');
