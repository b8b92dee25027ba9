import path from 'node:path';
import type { Argv } from 'yargs';
import { isDatasetError } from '@sentseg/dataset-tools';
import { LabelBankError } from '@sentseg/label-bank';
import { BackendError } from './backend/select.js';
import { CheckpointError } from './checkpoint.js';
import { ConfigError, parseOverride, readConfigFile, resolveConfig, type TrainConfig } from './config.js';
import { TrainerError } from './errors.js';
import { train } from './train.js';

/** Errors that are the user's input, not a bug: printed without a stack, exit 2. */
export function isTrainerUserError(err: unknown): boolean {
  return err instanceof TrainerError || err instanceof ConfigError || err instanceof CheckpointError || err instanceof BackendError || err instanceof LabelBankError || isDatasetError(err);
}

interface TrainArgs {
  config?: string;
  set?: string[];
  manifest?: string;
  'label-bank'?: string;
  out?: string;
  steps?: number;
  backend?: string;
  resume?: string;
  progress?: boolean;
}

/** Layers the config: defaults ← --config file ← named flags ← --set key=value. */
export function configFromArgs(args: TrainArgs): TrainConfig {
  const layers: { where: string; values: Record<string, unknown> }[] = [];
  if (args.config) layers.push({ where: args.config, values: readConfigFile(args.config) });
  const flags: Record<string, unknown> = {};
  if (args.manifest !== undefined) flags.manifest = args.manifest;
  if (args['label-bank'] !== undefined) flags.labelBank = args['label-bank'];
  if (args.steps !== undefined) flags.steps = args.steps;
  if (args.backend !== undefined) flags.backend = args.backend;
  if (Object.keys(flags).length > 0) layers.push({ where: 'the command line', values: flags });
  for (const s of args.set ?? []) layers.push({ where: `--set ${s}`, values: parseOverride(s) });
  return resolveConfig(layers);
}

export function trainCommand(y: Argv): Argv {
  return y.command(
    'train',
    'train a SegFormer on a merged manifest against the label bank\'s embeddings',
    (c) =>
      c
        .usage(
          '$0 train --config run.yaml --out runs/first\n\n' +
            'Settings come from the defaults, then --config (JSON or YAML), then the flags below, then --set.\n' +
            'Every setting has a --set name (e.g. --set optimizer.lr=1e-4 --set data.crop=256); an unknown one is an error.',
        )
        .option('config', { type: 'string', describe: 'run config, JSON or YAML' })
        .option('set', { type: 'string', array: true, describe: 'override one setting: key.path=value (repeatable)' })
        .option('manifest', { type: 'string', describe: 'manifest.sqlite from merge-datasets' })
        .option('label-bank', { type: 'string', describe: 'label-bank.sqlite with embeddings of every manifest label' })
        .option('steps', { type: 'number', describe: 'training steps in all (with --resume: continue up to this many)' })
        .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], describe: 'TensorFlow.js backend (auto: native TensorFlow if installed, else wasm)' })
        .option('out', { type: 'string', describe: 'run folder: config.json, metrics.jsonl, checkpoints/' })
        .option('resume', { type: 'string', describe: 'continue the run in this folder from its latest checkpoint (uses its config.json)' })
        .option('progress', { type: 'boolean', describe: 'progress bar (default: when stderr is a terminal)' })
        .check((a) => {
          if (!a.out && !a.resume) throw new Error('name the run folder: --out DIR (or --resume DIR)');
          if (a.out && a.resume) throw new Error('--out and --resume both name the run folder; give one');
          return true;
        }),
    async (args) => {
      const a = args as unknown as TrainArgs;
      let config: TrainConfig;
      let run: string;
      if (a.resume) {
        run = a.resume;
        const saved = path.join(run, 'config.json');
        config = configFromArgs({ ...a, config: saved });
      } else {
        run = a.out as string;
        config = configFromArgs(a);
      }
      let stopRequested = false;
      const onSigint = () => {
        if (stopRequested) process.exit(130);
        stopRequested = true;
        process.stderr.write('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
      };
      process.on('SIGINT', onSigint);
      try {
        const summary = await train({ config, run, resume: Boolean(a.resume), progress: a.progress, stopRequested: () => stopRequested });
        const last = summary.metrics[summary.metrics.length - 1];
        const first = summary.metrics[0];
        const out = (line: string) => process.stdout.write(`${line}\n`);
        out(`run: ${path.resolve(run)}`);
        out(`steps ${summary.startStep} → ${summary.endStep} of ${config.steps}${summary.interrupted ? ' (interrupted)' : ''}`);
        if (first && last) out(`loss ${first.loss.toFixed(4)} → ${last.loss.toFixed(4)}, τ ${last.tau.toFixed(4)}`);
        const ips = summary.metrics.length > 1 ? summary.metrics.slice(1).reduce((s, m) => s + m.imagesPerSec, 0) / (summary.metrics.length - 1) : (first?.imagesPerSec ?? 0);
        out(`${ips.toFixed(2)} images/s on ${summary.backend.name}; ${summary.skippedImages} unreadable image(s) skipped`);
        if (summary.lastCheckpoint) out(`checkpoint: ${summary.lastCheckpoint}`);
        if (summary.interrupted) {
          out(`resume with: train --resume ${run}`);
          process.exit(130);
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    },
  );
}
