/**
 * label-bank benchmark: cold embed of all labels into a fresh bank, the warm re-run (all from the
 * cache), and peak RSS. Uses --model when given, else a generated random-weight CLIP text encoder
 * of the given size (the real CLIP ViT-B/32 text tower is 12 layers × 512 wide).
 *   node packages/label-bank/dist/bench/embed-bench.js [--model DIR] [--tokenizer tokenizer.json]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { embedLabels } from '../embed.js';
import { loadClipTextEncoder } from '../clip/text.js';
import { writeTinyClipTextModel } from '../clip/tiny-text.js';
import { LabelBank } from '../store/bank.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = await yargs(hideBin(process.argv))
  .scriptName('embed-bench')
  .option('model', { type: 'string', describe: 'text encoder folder (default: generated)' })
  .option('tokenizer', { type: 'string', default: path.resolve(here, '../../../../../shared/models/clip-tokenizer/tokenizer.json') })
  .option('layers', { type: 'number', default: 12, describe: 'layers of the generated encoder' })
  .option('hidden', { type: 'number', default: 512, describe: 'width of the generated encoder' })
  .option('heads', { type: 'number', default: 8 })
  .option('projection-dim', { type: 'number', default: 512 })
  .strict()
  .help()
  .parseAsync();

const work = mkdtempSync(path.join(os.tmpdir(), 'sentseg-embed-bench-'));
try {
  let model = args.model;
  let what = `model ${model}`;
  if (model === undefined) {
    model = path.join(work, 'clip-text');
    writeTinyClipTextModel(model, {
      tokenizerJson: args.tokenizer,
      layers: args.layers,
      hiddenSize: args.hidden,
      heads: args.heads,
      projectionDim: args['projection-dim'],
    });
    what = `generated random-weight CLIP text encoder, ${args.layers} layers × ${args.hidden} wide, ${args['projection-dim']}-d output (CLIP ViT-B/32 text-tower size by default)`;
  }
  const bank = LabelBank.open(path.join(work, 'label-bank.sqlite'));
  const loadStart = performance.now();
  const encoder = await loadClipTextEncoder(model);
  const loadSeconds = (performance.now() - loadStart) / 1000;
  const cold = await embedLabels(bank, encoder, { kinds: ['sentence'] });
  const warm = await embedLabels(bank, encoder, { kinds: ['sentence'] });
  await encoder.dispose();
  bank.close();
  // VmHWM is this process's own peak (getrusage's maxRSS keeps the parent's peak across exec on Linux).
  const hwm = existsSync('/proc/self/status') ? /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] : undefined;
  const peakRssMiB = Number(hwm ?? process.resourceUsage().maxRSS) / 1024;
  console.log(`label-bank embed benchmark (${os.cpus().length} cores, node ${process.version})`);
  console.log(`encoder: ${what}`);
  console.log(`model load:               ${loadSeconds.toFixed(2)} s`);
  console.log(`cold embed, ${cold.labels} sentences: ${cold.seconds.toFixed(2)} s (${cold.encoded} encoded, ${cold.labelsPerSecond.toFixed(1)} labels/s)`);
  console.log(`warm re-run:              ${(warm.seconds * 1000).toFixed(1)} ms (${warm.encoded} encoded, ${warm.cached} from cache)`);
  console.log(`peak RSS:                 ${peakRssMiB.toFixed(0)} MiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
