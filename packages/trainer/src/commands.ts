import path from 'node:path';
import type { Argv } from 'yargs';
import { EXIT, flushAndExit, plural, progress } from '@sentseg/common';
import { isDatasetError } from '@sentseg/dataset-tools';
import { hubOptionsFromArgs, hubYargsOptions, LabelBankError } from '@sentseg/label-bank';
import { BackendError, selectBackend, type BackendChoice } from './backend/select.js';
import { CheckpointError } from './checkpoint.js';
import { ConfigError, parseOverride, readConfigFile, resolveConfig, type TrainConfig } from './config.js';
import { TrainerError } from './errors.js';
import { embedTrainingBoxes, train, type TrainSummary } from './train.js';
import { listInputs, predict, type LabelRequest } from './predict/predict.js';
import { checkEvalTarget, evaluate, unseenLabels } from './eval/evaluate.js';
import { checkWindow } from './eval/infer.js';
import { modeName, textTable, writeEvalOutputs } from './eval/report.js';
import { ManifestReader } from '@sentseg/dataset-tools';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { checkInferenceInputs, checkOutputFolder, checkSqliteKind, inferenceManifest, runConfigFile } from './run-folder.js';

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
  'clip-vision'?: string;
  encoder?: string;
  resume?: string;
  overwrite?: boolean;
  progress?: boolean;
  'cache-dir'?: string;
  offline?: boolean;
  'hub-timeout'?: number;
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
  if (args['clip-vision'] !== undefined) flags.clipVision = args['clip-vision'];
  if (args.encoder !== undefined) flags.encoder = args.encoder;
  if (Object.keys(flags).length > 0) layers.push({ where: 'the command line', values: flags });
  for (const s of args.set ?? []) layers.push({ where: `--set ${s}`, values: parseOverride(s) });
  return resolveConfig(layers);
}

export function trainCommand(y: Argv): Argv {
  return y.command(
    'train',
    'train a SegFormer on a merged manifest against the label bank\'s embeddings',
    (c) =>
      hubYargsOptions(c)
        .usage(
          '$0 train --config run.yaml --out runs/first\n\n' +
            'Settings come from the defaults, then --config (JSON or YAML), then the flags below, then --set. ' +
            'Every setting has a --set name (e.g. --set optimizer.lr=1e-4 --set data.crop=256); an unknown one is an error. ' +
            'Relative paths are taken from the working directory and stored absolute in the run\'s config.json, so eval, predict and --resume work from anywhere.\n\n' +
            'A folder that already holds a run (config.json, metrics.jsonl, checkpoints/) is refused: continue it with --resume DIR, or start it over with --out DIR --overwrite.\n\n' +
            'Losses: --set losses.resolution=label takes L_HD and L_LD at the label\'s resolution (the cosine logits upsampled bilinearly to the crop, as mmseg\'s SegFormer) instead of output (the 1/4-resolution map against the label at each cell\'s centre); ' +
            '--set losses.wdMinVisible=0.5 leaves out of L_WD the boxes the random crop shows less than that share of; --set losses.byDataset.NAME=hd|ld|wd overrides the manifest\'s loss column. ' +
            'An image whose mask holds ids that are neither a label nor ignored (255; 65,535 in a manifest of more than 255 labels) is skipped and named, and the run then exits 2.\n\n' +
            'Memory: --set model.recompute=auto (default) keeps every activation while that is estimated under 1 GiB of WebAssembly memory, else recomputes the encoder\'s in the backward pass (the decoder\'s kept), else, where even that would not fit the 3.5 GiB a step may take, recomputes everything (the decoder and loss in bands); off, encoder and on force one of the three. A step that cannot fit even so is refused before it starts, naming a batch and a crop that fit; with two threads (below) each thread\'s heap holds half the batch and is judged by that.\n\n' +
            'Speed: --set model.threads=auto (default) computes the gradients of half of each batch in a worker thread at the same time on a machine with two cores or more, for a batch of 2 or more images of at least 2 × 256 × 256 pixels (wasm and cpu backends; native TensorFlow runs on every core already); 2 always, 1 never (the same update to float rounding).',
        )
        .option('config', { type: 'string', describe: 'run config, JSON or YAML' })
        .option('set', { type: 'string', array: true, describe: 'override one setting: key.path=value (repeatable)' })
        .option('manifest', { type: 'string', describe: 'manifest.sqlite from merge-datasets' })
        .option('label-bank', { type: 'string', describe: 'label-bank.sqlite with embeddings of every manifest label' })
        .option('encoder', { type: 'string', describe: "the bank's encoder to train against: its id, or the name it was embedded with (lexical, a folder, ORG/NAME); needed when the bank holds several" })
        .option('steps', { type: 'number', describe: 'training steps in all (with --resume: continue up to this many)' })
        .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], describe: 'TensorFlow.js backend (auto: native TensorFlow if installed, else wasm)' })
        .option('clip-vision', { type: 'string', describe: 'CLIP vision tower: a folder in transformers.js layout or a hub id ORG/NAME[@REVISION] (downloaded once into --cache-dir); box-crop embeddings for box-only datasets (L_WD)' })
        .option('out', { type: 'string', describe: 'run folder to create: config.json, metrics.jsonl, checkpoints/' })
        .option('overwrite', { type: 'boolean', describe: 'with --out: the folder holds a run; remove its config.json, metrics.jsonl and checkpoints/ and start over' })
        .option('resume', { type: 'string', describe: 'continue the run in this folder from its latest checkpoint (uses its config.json)' })
        .option('progress', { type: 'boolean', describe: 'progress bar (default: when stderr is a terminal)' })
        .check((a) => {
          if (a.overwrite && a.resume) throw new Error('--overwrite starts a run over and --resume continues it; give one (with --out DIR for --overwrite)');
          if (!a.out && !a.resume) throw new Error('name the run folder: --out DIR (or --resume DIR)');
          if (a.out && a.resume) throw new Error('--out and --resume both name the run folder; give one');
          return true;
        }),
    async (args) => {
      const a: TrainArgs = args;
      let config: TrainConfig;
      let run: string;
      if (a.resume) {
        run = a.resume;
        config = configFromArgs({ ...a, config: runConfigFile(run) });
      } else {
        run = a.out as string;
        config = configFromArgs(a);
      }
      let stopRequested = false;
      let summary: TrainSummary;
      const onSigint = () => {
        if (stopRequested) return void flushAndExit(EXIT.interrupted);
        stopRequested = true;
        process.stderr.write('\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to quit at once)\n');
      };
      process.on('SIGINT', onSigint);
      try {
        summary = await train({ config, run, resume: Boolean(a.resume), overwrite: a.overwrite === true, progress: a.progress, stopRequested: () => stopRequested, hub: hubOptionsFromArgs(a) });
        const last = summary.metrics[summary.metrics.length - 1];
        const first = summary.metrics[0];
        const out = (line: string) => process.stdout.write(`${line}\n`);
        out(`run: ${path.resolve(run)}`);
        out(`steps ${summary.startStep} → ${summary.endStep} of ${config.steps}${summary.interrupted ? ' (interrupted)' : ''}`);
        if (first && last) out(`loss ${first.loss.toFixed(4)} → ${last.loss.toFixed(4)}, τ ${last.tau.toFixed(4)}`);
        const ips = summary.metrics.length > 1 ? summary.metrics.slice(1).reduce((s, m) => s + m.imagesPerSec, 0) / (summary.metrics.length - 1) : (first?.imagesPerSec ?? 0);
        out(`${ips.toFixed(2)} images/s on ${summary.backend.name}; ${plural(summary.skippedImages, 'unreadable image')} skipped`);
        if (summary.wdBoxes + summary.wdBoxesCut > 0) {
          out(`L_WD boxes: ${summary.wdBoxes} used, ${summary.wdBoxesCut} left out (the crop showed less than ${Math.round(config.losses.wdMinVisible * 100)}% of their area; losses.wdMinVisible)`);
        }
        if (summary.lastCheckpoint) out(`checkpoint: ${summary.lastCheckpoint}`);
        // $0 is the script name: `sentseg` under the umbrella, `sentseg-model` under the package's bin and under its old name sentseg-train too (same output for both).
        if (summary.interrupted) out(`resume with: ${String(args.$0)} train --resume ${run}`);
      } finally {
        process.off('SIGINT', onSigint);
      }
      if (summary.interrupted) await flushAndExit(EXIT.interrupted);
      // A run that skipped inputs is not a success (the exit-code rule): its checkpoint is kept all the same.
      const trained = summary.metrics.reduce((n, m) => n + m.images, 0);
      if (trained === 0 && summary.endStep > summary.startStep) throw new TrainerError(`no image could be read in ${plural(summary.endStep - summary.startStep, 'step')}: every one was skipped (listed above)`);
      const stray = summary.strayLabelFiles;
      if (stray.length > 0) {
        const first = stray.slice(0, 3).join('; ');
        throw new TrainerError(
          `${plural(stray.length, 'image')} skipped because their masks hold ids that are neither a label nor ignored (first: ${first}${stray.length > 3 ? '; …' : ''}; listed above, ${summary.skippedImages} skips in all): fix the taxonomy or the masks (sentseg manifest validate lists them all); the steps trained on the others and the checkpoint is saved`,
        );
      }
      if (summary.skippedImages > 0) throw new TrainerError(`${plural(summary.skippedImages, 'unreadable image')} skipped (listed above); the steps trained on the others and the checkpoint is saved`);
    },
  );
}

/** eval and predict: the backend, named on stderr. Called once every input has been checked. */
async function announceBackend(choice: BackendChoice): Promise<void> {
  const backend = await selectBackend(choice);
  process.stderr.write(`backend: ${backend.name} (${backend.reason})\n`);
}

/** Options eval and predict share. */
function inferenceOptions<T>(c: Argv<T>) {
  return c
    .option('run', { type: 'string', demandOption: true, describe: 'run folder (its latest checkpoint), or one checkpoint' })
    .option('label-bank', { type: 'string', describe: 'label bank (default: the run\'s)' })
    .option('backend', { choices: ['auto', 'tensorflow', 'wasm', 'cpu'], default: 'auto', describe: 'TensorFlow.js backend' });
}

function parseScales(text: string): number[] {
  const scales = text.split(',').map((s) => Number(s.trim()));
  if (scales.length === 0 || scales.some((s) => !Number.isInteger(s) || s < 32)) throw new TrainerError(`--scales takes short edges of at least 32 pixels, comma-separated; got "${text}"`);
  return scales;
}

export function boxEmbeddingsCommand(y: Argv): Argv {
  return y.command(
    'box-embeddings',
    "compute and cache the CLIP embeddings of the box crops L_WD trains against, without training (the PyTorch bridge reads the cache)",
    (c) =>
      hubYargsOptions(c)
        .usage(
          '$0 box-embeddings --manifest manifest.sqlite --clip-vision clip-vision/\n\n' +
            'The first thing `train` does for datasets that train with L_WD (box-only ones, or --set losses.byDataset.NAME=wd): embed every box crop of their training images with the CLIP vision tower into the box-embedding cache ' +
            '(--set boxCache=FILE; default <manifest>.box-embeddings.sqlite). Boxes already cached are not recomputed. Takes the same settings as train (--config, --set data.datasets=..., data.splits, losses.byDataset).',
        )
        .option('config', { type: 'string', describe: 'run config, JSON or YAML (as train)' })
        .option('set', { type: 'string', array: true, describe: 'override one setting: key.path=value (repeatable), e.g. boxCache=FILE' })
        .option('manifest', { type: 'string', describe: 'manifest.sqlite from merge-datasets' })
        .option('clip-vision', { type: 'string', describe: 'CLIP vision tower: a folder in transformers.js layout or a hub id ORG/NAME[@REVISION] (downloaded once into --cache-dir)' })
        .option('progress', { type: 'boolean', describe: 'progress bar (default: when stderr is a terminal)' }),
    async (args) => {
      const a: TrainArgs = args;
      const bar = progress('box crops {bar} {value}/{total} images', { enabled: a.progress });
      try {
        const s = await embedTrainingBoxes({
          config: configFromArgs(a),
          hub: hubOptionsFromArgs(a),
          progress: (done, total) => {
            bar.setTotal(total);
            bar.update(done);
          },
        });
        bar.stop();
        process.stdout.write(`box cache: ${s.cache}\n${s.computed + s.cached} boxes of ${s.datasets.join(', ')}: ${s.computed} computed, ${s.cached} from the cache (${s.modelId}, ${s.dim}-d)\n`);
      } finally {
        bar.stop();
      }
    },
  );
}

export function evalCommand(y: Argv): Argv {
  return y.command(
    'eval',
    'mIoU of a checkpoint on one dataset split, predicting among that dataset\'s own classes',
    (c) =>
      inferenceOptions(c)
        .usage(
          '$0 eval --run runs/first --dataset cityscapes --split val\n\n' +
            'Each class of the dataset is represented by the embedding of its label\'s text (the encoder and text kind the checkpoint was trained with); ' +
            'pixels are assigned the most similar class, 255 is ignored. ' +
            'mIoU is the mean IoU over the classes that occur in the targets or in the predictions: a class never in the targets and never predicted has no IoU and is left out of the mean.\n\n' +
            'The manifest defaults to the one the run was trained on (its config.json); give --manifest for another, e.g. a held-out dataset.\n\n' +
            'Images too large for one forward pass within the memory budget run as a sliding window (mmseg\'s slide inference); the output says which. ' +
            'An image that cannot be read is skipped and listed; the report covers the others and the command then exits 2 (exit 0 with --skip-bad-images). ' +
            'When no image could be evaluated there is no report and it exits 2.',
        )
        .option('manifest', { type: 'string', describe: 'manifest.sqlite holding the dataset (default: the run\'s)' })
        .option('dataset', { type: 'string', demandOption: true, describe: 'dataset name in the manifest' })
        .option('split', { type: 'string', default: 'val', describe: 'split to evaluate' })
        .option('short-edge', { type: 'number', default: 1080, describe: 'single scale: resize the short edge to this' })
        .option('scales', { type: 'string', describe: 'multi-scale: short edges, comma-separated (e.g. 480,720,1080); probabilities are averaged' })
        .option('flip', { type: 'boolean', default: false, describe: 'also predict the mirrored image and average' })
        .option('window', { type: 'number', describe: 'sliding window: tiles of this size (a multiple of 32, stride 2/3 of it) wherever the resized image is larger (default: whole image where it fits the model\'s memory budget, windows chosen where not)' })
        .option('skip-bad-images', { type: 'boolean', default: false, describe: 'an image that cannot be read or evaluated is listed and left out, and eval still exits 0 (default: it exits 2)' })
        .option('limit', { type: 'number', describe: 'only the first N images (quick checks)' })
        .option('out', { type: 'string', describe: 'write eval.json, eval.md, confusion.json, confusion.png and confusion.html here' })
        .option('missing-labels', {
          choices: ['error', 'never-predicted'],
          default: 'error',
          describe: 'a class with no embedding of the checkpoint\'s encoder (e.g. a one-hot model and a name it was not built with): stop, or count it as never predicted',
        })
        .option('zero-shot-from', { type: 'string', describe: 'manifest of the training sets: list the labels of this dataset none of them has' })
        .option('json', { type: 'boolean', default: false, describe: 'print the report as JSON' }),
    async (args) => {
      // Every input and output is checked before the backend starts and the images are read.
      if (args.out !== undefined) checkOutputFolder('--out', args.out);
      checkWindow(args.window);
      const manifest = inferenceManifest(args.run, args.manifest);
      checkSqliteKind('manifest', manifest, 'manifest');
      if (args['zero-shot-from'] !== undefined) checkSqliteKind('--zero-shot-from', args['zero-shot-from'], 'manifest');
      const { bank, runConfig } = checkInferenceInputs(args.run, args['label-bank']);
      checkEvalTarget(manifest, args.dataset, args.split);
      const scales = args.scales ? parseScales(args.scales) : [args['short-edge']];
      await announceBackend(args.backend as BackendChoice);
      const report = await evaluate({
        run: args.run,
        manifest,
        labelBank: bank,
        dataset: args.dataset,
        split: args.split,
        infer: { scales, flip: args.flip, window: args.window },
        limit: args.limit,
        missingLabels: args['missing-labels'] as 'error' | 'never-predicted',
        onImage: (done, total) => {
          if (process.stderr.isTTY) process.stderr.write(`\reval ${done}/${total}`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      for (const s of report.skipped) process.stderr.write(`skipped ${s.file}: ${s.reason}\n`);
      if (report.images === 0) {
        const why = report.skipped.length === 0 ? 'it has none' : `all ${report.skipped.length} were skipped (listed above)`;
        throw new TrainerError(`no image of ${args.dataset} ${args.split} could be evaluated: ${why}`);
      }
      let unseen: string[] | null = null;
      if (args['zero-shot-from']) {
        const reader = ManifestReader.open(manifest);
        try {
          const trained = runConfig?.data.datasets ?? null;
          unseen = unseenLabels(reader, args.dataset, args['zero-shot-from'], trained);
        } finally {
          reader.close();
        }
      }
      if (args.out) {
        mkdirSync(args.out, { recursive: true });
        await writeEvalOutputs(args.out, report);
      }
      const out = (line: string) => process.stdout.write(`${line}\n`);
      if (args.json) {
        const { confusion: _c, ...rest } = report;
        out(JSON.stringify({ ...rest, mode: modeName(report), unseenLabels: unseen }, null, 2));
      } else {
        out(textTable(report));
        out(`inference: ${inferenceLine(report.inference, report.images)}`);
        out(`${report.megapixels.toFixed(2)} megapixels in ${report.seconds.toFixed(1)} s (${(report.megapixels / Math.max(report.seconds, 1e-9)).toFixed(3)} MP/s)`);
        if (report.neverPredicted.length > 0) out(`never predicted (no ${report.neverPredicted.length === 1 ? 'embedding' : 'embeddings'} for this checkpoint's encoder): ${report.neverPredicted.join(', ')}`);
        if (unseen) out(unseen.length > 0 ? `labels never seen in training (zero-shot): ${unseen.join(', ')}` : 'every label of this dataset was seen in training');
        if (args.out) out(`wrote eval.json, eval.md, confusion.json, confusion.png, confusion.html to ${args.out}`);
      }
      const total = report.images + report.skipped.length;
      if (report.skipped.length > 0 && args['skip-bad-images']) {
        process.stderr.write(`${report.skipped.length} of ${total} images skipped (--skip-bad-images): the mIoU covers the other ${report.images}\n`);
      } else if (report.skipped.length > 0) throw new TrainerError(`${report.skipped.length} of ${total} images skipped (listed above): the mIoU covers the other ${report.images}`);
    },
  );
}

/** eval's line saying how the images ran. */
function inferenceLine(inference: { wholeImage: number; slidingWindow: number; windows: string[] }, images: number): string {
  const n = (count: number) => `${count} image${count === 1 ? '' : 's'}`;
  if (inference.slidingWindow === 0) return `whole image (${n(images)})`;
  const windows = inference.windows.length > 3 ? `${inference.windows.slice(0, 3).join('; ')}; …` : inference.windows.join('; ');
  return `${inference.wholeImage > 0 ? `whole image for ${n(inference.wholeImage)}, ` : ''}sliding window for ${n(inference.slidingWindow)} (${windows})`;
}

/** --labels / --labels-file names plus --describe name=text entries (a described name may be new). */
export function labelRequests(labels: string | undefined, labelsFile: string | undefined, describe: string[] | undefined): LabelRequest[] | null {
  const names: string[] = [];
  if (labels) names.push(...labels.split(',').map((s) => s.trim()).filter(Boolean));
  if (labelsFile) {
    if (!existsSync(labelsFile)) throw new TrainerError(`labels file not found: ${labelsFile}`);
    names.push(...readFileSync(labelsFile, 'utf8').split('\n').map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#')));
  }
  const descriptions = new Map<string, string>();
  for (const d of describe ?? []) {
    const eq = d.indexOf('=');
    if (eq <= 0 || eq === d.length - 1) throw new TrainerError(`--describe takes name=description, got "${d}"`);
    descriptions.set(d.slice(0, eq).trim(), d.slice(eq + 1).trim());
  }
  for (const name of descriptions.keys()) if (!names.includes(name)) names.push(name);
  if (names.length === 0) return null;
  const unique = [...new Set(names)];
  return unique.map((name) => (descriptions.has(name) ? { name, description: descriptions.get(name) as string } : { name }));
}

export function predictCommand(y: Argv): Argv {
  return y.command(
    'predict',
    'segment images with any labels, including new ones described in a sentence (zero-shot)',
    (c) =>
      inferenceOptions(c)
        .usage(
          '$0 predict --run runs/first --input photos/ --out preds/ --labels "road,car,sky"\n\n' +
            'A label the bank does not have is described in a sentence and encoded on the fly: --describe "lawn=An image of lawn. A lawn is an area of mown grass." ' +
            'Writes per image: NAME_labels.png (one channel: the index of the label in the list of labels, in the order given; 8-bit palette PNG up to 256 labels, 16-bit gray above), ' +
            'NAME_overlay.png (colours over the image; below it a legend of the labels of at least 0.1% of the image, then "+N more"), NAME_legend.json, ' +
            'and with --scores K the cosine scores of the K largest labels (NAME_scores.f32 + NAME_scores.json).\n\n' +
            'An input that cannot be read as an image is skipped and listed; the others are written and the command then exits 2 (no image at all: nothing is written).',
        )
        .option('input', { type: 'string', demandOption: true, describe: 'an image, or a folder of images' })
        .option('out', { type: 'string', demandOption: true, describe: 'output folder' })
        .option('labels', { type: 'string', describe: 'comma-separated label names (default: every label the checkpoint was trained on)' })
        .option('labels-file', { type: 'string', describe: 'a file with one label name per line' })
        .option('describe', { type: 'string', array: true, describe: 'a new label: "name=An image of name. ..." (encoded with the bank\'s text encoder; repeatable)' })
        .option('short-edge', { type: 'number', default: 512, describe: 'resize the short edge to this before predicting' })
        .option('window', { type: 'number', describe: 'sliding window: tiles of this size (a multiple of 32, stride 2/3 of it) wherever the resized image is larger (default: whole image where it fits the model\'s memory budget, windows chosen where not)' })
        .option('scores', { type: 'number', default: 0, describe: 'also write the raw cosine scores of the top K labels' }),
    async (args) => {
      checkOutputFolder('--out', args.out);
      checkWindow(args.window);
      const { bank } = checkInferenceInputs(args.run, args['label-bank']);
      const inputs = listInputs(args.input);
      const labels = labelRequests(args.labels, args['labels-file'], args.describe);
      await announceBackend(args.backend as BackendChoice);
      const bar = progress('predict [{bar}] {value}/{total} | ETA {eta_formatted} | {file}', { hideCursor: true });
      const summary = await predict({
        run: args.run,
        labelBank: bank,
        inputs,
        out: args.out,
        labels,
        shortEdge: args['short-edge'],
        window: args.window,
        scores: args.scores,
        onImage: (done, total, file) => {
          bar.setTotal(total);
          bar.update(done, { file: path.basename(file) });
        },
      });
      bar.stop();
      const out = (line: string) => process.stdout.write(`${line}\n`);
      if (summary.labels.encoded.length > 0) out(`encoded new label text: ${summary.labels.encoded.join(', ')}`);
      for (const p of summary.confusable) process.stderr.write(`warning: "${p.a}" and "${p.b}" are likely to be confused (cosine ${p.cosine.toFixed(3)} ≥ 0.95)\n`);
      for (const s of summary.skipped) process.stderr.write(`skipped ${s.file}: ${s.reason}\n`);
      for (const img of summary.images) out(`${img.input}: ${img.legend.slice(0, 5).map((e) => `${e.name} ${((100 * e.pixels) / img.legend.reduce((a, b) => a + b.pixels, 0)).toFixed(1)}%`).join(', ')} (${img.inference})`);
      const n = inputs.length;
      if (summary.images.length === 0) throw new TrainerError(`no image was segmented: ${n === 1 ? 'the 1 input was' : `all ${n} inputs were`} skipped (listed above)`);
      out(`${plural(summary.images.length, 'image')} segmented with ${plural(summary.labels.names.length, 'label')} in ${summary.seconds.toFixed(1)} s (${(summary.images.length / Math.max(summary.seconds, 1e-9)).toFixed(2)} images/s); ${summary.skipped.length} skipped; wrote ${args.out}`);
      if (summary.skipped.length > 0) throw new TrainerError(`${summary.skipped.length} of ${n} inputs skipped (listed above); the other ${summary.images.length} segmented into ${args.out}`);
    },
  );
}
