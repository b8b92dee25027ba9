#!/usr/bin/env node
import { launch } from '@sentseg/common/launch';

await launch(new URL('../dist/manifest-cli.js', import.meta.url), 'manifest');
