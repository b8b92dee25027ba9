#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';

await launch(new URL('../dist/cli.js', import.meta.url), 'sentseg-model');
