import { mergeDatasets, parseDatasetSpecs } from '@sentseg/dataset-tools';
import { rmSync } from 'node:fs';
rmSync('/tmp/cal/prof.sqlite', { force: true });
const t = performance.now();
await mergeDatasets('/tmp/cal/prof.sqlite', parseDatasetSpecs(['cityscapes=/tmp/cal/mb/cityscapes']), { workers: 0 });
console.log((performance.now() - t) / 1000);
