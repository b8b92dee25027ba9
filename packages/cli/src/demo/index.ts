/**
 * `sentseg demo` (npm run demo): the whole pipeline on bundled data, offline. A synthetic scene world
 * in four dataset layouts → merge-datasets → label bank (WordNet descriptions, CLIP and lexical
 * embeddings) → train three ways over several seeds → eval on every validation split → predict on
 * held-out scenes → demo-out/report.html.
 */
import { ManifestReader, mergeDatasets, parseDatasetSpecs, readMaskValues, type DatasetSpec, type MergeSummary } from '@sentseg/dataset-tools';
import { WORLD_DATASETS, writeSceneWorld, type WrittenWorld } from '@sentseg/dataset-tools/testing';
import { cosineMatrix, heatmapPng, LabelBank, writeSimilarityReport } from '@sentseg/label-bank';
import { DEFAULT_CONFIG, labelColour, predict, selectBackend } from '@sentseg/trainer';
import { flushAndExit, EXIT } from '@sentseg/common';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CONDITIONS, compareResolutions, summarizeExperiment, formatSpread, type Condition, type LossResolution, type Measurement, type ResolutionComparison } from './experiment.js';
import { runJobs, stopAllJobs, type EvalJob, type EvalResult, type Job, type TrainJob, type TrainResult } from './jobs.js';
import { checkDemoInputs, removeDemoOutput } from './output.js';
import { writeReport, type ReportData } from './report.js';
import { addWorldLabels, chooseClip, embedOneHot, embedWithClip, embedWithLexical } from './world-bank.js';

export interface DemoOptions {
  out: string;
  shared: string;
  /** A CLIP text tower folder (default: a real one under shared/models, else a generated one). */
  model?: string;
  seeds?: number[];
  steps?: number;
  /** World size: 1 = the full demo world, less for quick runs. */
  scale?: number;
  /** Training / evaluation runs at a time (default: one per core, at most 2). */
  jobs?: number;
  /** Held-out images predicted for the report. */
  predictImages?: number;
  /**
   * Where the pixel losses are taken (the trainer's losses.resolution; default: its default).
   * `both`: every condition at the default, and (c) also at the other, compared in one run.
   */
  lossResolution?: LossResolution | 'both';
  log?: (line: string) => void;
}

export interface DemoResult {
  report: string;
  wallSeconds: number;
  stages: { name: string; seconds: number }[];
  summary: ReturnType<typeof summarizeExperiment>;
  /** With lossResolution `both`: condition (c) at each resolution. */
  resolutions: ResolutionComparison[] | null;
}

export const DEMO_DEFAULTS = { seeds: [1, 2, 3], steps: 160, scale: 1, crop: 96, batchSize: 6, lr: 1e-3, model: 'tiny', worldSeed: 2022, lexicalDim: 512 };

/** The real sample datasets of ../shared/datasets merged beside the world (not trained on). */
function realSampleSpecs(shared: string): { spec: DatasetSpec; source: string }[] {
  const samples = path.join(shared, 'datasets', 'mseg-api-samples');
  const entries: [string, string, string][] = [
    ['ade20k-sample', 'ade20k', path.join(samples, 'ADE20K_test_data', 'ADEChallengeData2016')],
    ['coco-sample', 'coco-panoptic', path.join(samples, 'COCOPanoptic_test_data')],
    ['sun-rgbd-sample', 'sun-rgbd', path.join(samples, 'SUNRGBD_test_data')],
  ];
  return entries.filter(([, , root]) => existsSync(root)).map(([name, format, root]) => ({ spec: parseDatasetSpecs([`${name}=${root}`], [`${name}=${format}`])[0] as DatasetSpec, source: path.relative(shared, root) }));
}

/** Held-out class names that no training dataset uses (one-hot models cannot reach them). */
function unseenHeldOutNames(): string[] {
  const trained = new Set(WORLD_DATASETS.filter((d) => !d.heldOut).flatMap((d) => d.classes.map((c) => c.name)));
  return WORLD_DATASETS.filter((d) => d.heldOut).flatMap((d) => d.classes.map((c) => c.name)).filter((n) => !trained.has(n));
}

function worldSpecs(world: WrittenWorld, names: string[]): DatasetSpec[] {
  const chosen = world.datasets.filter((d) => names.includes(d.spec.name));
  return parseDatasetSpecs(
    chosen.map((d) => `${d.spec.name}=${d.root}`),
    chosen.map((d) => `${d.spec.name}=${d.spec.format}`),
    [],
    chosen.filter((d) => d.taxonomyFile).map((d) => `${d.spec.name}=${d.taxonomyFile}`),
  );
}

/** Colours a class-index map (255 = ignored, grey) with the predict command's label colours. */
async function colourise(file: string, values: ArrayLike<number>, width: number, height: number): Promise<void> {
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = values[p] as number;
    const c = v === 255 ? [128, 128, 128] : labelColour(v);
    rgb.set(c, p * 3);
  }
  await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } }).png().toFile(file);
}

/**
 * Runs the demo into options.out. Bad inputs are refused before anything is written; a demo that
 * fails, or is stopped with Ctrl-C (exit 130), removes what it wrote and says so.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const out = path.resolve(options.out);
  checkDemoInputs(out, options.shared, options.model);
  const createdFolder = !existsSync(out);
  removeDemoOutput(out);
  let interrupted = false;
  const onInterrupt = async () => {
    interrupted = true;
    await stopAllJobs();
    removeDemoOutput(out, createdFolder);
    process.stderr.write(`interrupted: the demo's partial output in ${out} was removed\n`);
    await flushAndExit(EXIT.interrupted);
  };
  process.once('SIGINT', onInterrupt);
  try {
    return await runDemoStages(options, out, log);
  } catch (err) {
    // Stopped jobs fail their stage: the interrupt handler cleans up and exits 130, not this path.
    if (interrupted) return await new Promise<never>(() => undefined);
    await stopAllJobs();
    removeDemoOutput(out, createdFolder);
    log(`demo failed: its partial output in ${out} was removed`);
    throw err;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

/** What every stage reads: the options, the output folder, the log, the settings and the stage timer. */
interface DemoRun {
  options: DemoOptions;
  out: string;
  log: (line: string) => void;
  seeds: number[];
  steps: number;
  scale: number;
  jobs: number;
  /** Stage timings, in order, for the report. */
  stages: ReportData['stages'];
  /** Runs one stage: logs its name and note, times it, and logs how long it took. */
  stage: <T>(name: string, note: string, work: () => Promise<T>) => Promise<T>;
}

/** The manifests: (a) city alone, (b)/(c) the three training sets, every world set for evaluation, and all with the real samples. */
interface DemoManifests {
  a: string;
  abc: string;
  eval: string;
  all: string;
}

/** One training run of the experiment: a condition, a seed, its run folder, its loss resolution and its job-id tag. */
interface PlannedRun {
  condition: Condition;
  seed: number;
  run: string;
  resolution: LossResolution;
  tag: string;
}

/** The runs to train: `runs` (conditions × seeds at the main resolution) and `allRuns` (with the extra (c) runs), in job order. */
interface RunPlan {
  runs: { condition: Condition; seed: number; run: string }[];
  allRuns: PlannedRun[];
  /** With lossResolution `both`: the extra (c) runs at the other resolution. */
  withOtherResolution: boolean;
  mainResolution: LossResolution;
  otherResolution: LossResolution;
  /** Index in allRuns (and in the train and eval results) of a run of `runs`. */
  at(r: { run: string }): number;
}

type Banked = Awaited<ReturnType<typeof embedStage>>;
type SentenceEncoder = ReportData['sentenceEncoder'];

function demoRun(options: DemoOptions, out: string, log: (line: string) => void): DemoRun {
  const stages: ReportData['stages'] = [];
  const stage = async <T>(name: string, note: string, work: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    log(`── ${name}: ${note}`);
    const result = await work();
    const seconds = (performance.now() - t) / 1000;
    stages.push({ name, seconds, note });
    log(`   ${name} done in ${seconds.toFixed(1)} s`);
    return result;
  };
  return {
    options,
    out,
    log,
    seeds: options.seeds ?? DEMO_DEFAULTS.seeds,
    steps: options.steps ?? DEMO_DEFAULTS.steps,
    scale: options.scale ?? DEMO_DEFAULTS.scale,
    jobs: Math.max(1, options.jobs ?? Math.min(2, os.cpus().length)),
    stages,
    stage,
  };
}

async function runDemoStages(options: DemoOptions, out: string, log: (line: string) => void): Promise<DemoResult> {
  const started = performance.now();
  const run = demoRun(options, out, log);
  for (const sub of ['jobs', 'assets']) mkdirSync(path.join(out, sub), { recursive: true });
  // The text encoder first: a missing tokenizer is known before minutes of work.
  const clip = chooseClip(out, options.shared, options.model);
  const world = await worldStage(run);
  const manifests: DemoManifests = { a: path.join(out, 'manifest-a.sqlite'), abc: path.join(out, 'manifest-abc.sqlite'), eval: path.join(out, 'manifest-eval.sqlite'), all: path.join(out, 'manifest.sqlite') };
  const merged = await mergeStage(run, world, manifests);
  const bankFile = path.join(out, 'label-bank.sqlite');
  const banked = await embedStage(run, clip, manifests, bankFile);
  const sentence: SentenceEncoder = clip.random
    ? { modelId: banked.lexical.modelId, kind: 'lexical' as const, why: 'no real CLIP text tower here, so the weight-free lexical baseline (TF-IDF over the description plus WordNet synonyms and hypernyms, seeded random projection to 512-d)' }
    : { modelId: banked.clipEmbed.modelId, kind: 'clip' as const, why: `CLIP text tower (${clip.why})` };
  const backend = await selectBackend('auto');
  const plan = planRuns(run);
  const trained = await trainStage(run, plan, backend.name, trainConfigs(run, manifests, bankFile, banked, sentence));
  const { targets, evaluated } = await evalStage(run, plan, world, manifests, bankFile);
  const measurements: Measurement[] = plan.runs.flatMap((r) => (evaluated[plan.at(r)] as EvalResult).results.map((e) => ({ condition: r.condition, seed: r.seed, dataset: e.dataset, miou: e.miou })));
  const summary = summarizeExperiment(measurements, targets.map((t) => t.dataset));
  const resolutions = plan.withOtherResolution ? compareResolutions(resolutionRuns(plan, trained, evaluated), targets.map((t) => t.dataset)) : null;
  const main = { condition: 'c' as Condition, seed: run.seeds[0] as number, run: plan.runs.find((r) => r.condition === 'c' && r.seed === run.seeds[0])?.run as string };
  const predicted = await predictStage(run, world, main, manifests.eval, bankFile);
  const samplesOfWorld = await worldSamples(out, world);
  const wallSeconds = (performance.now() - started) / 1000;
  const report = writeReport(out, {
    generatedAt: new Date().toISOString(),
    wallSeconds,
    stages: run.stages,
    clip: { folder: clip.folder, random: clip.random, why: clip.why, modelId: banked.clipEmbed.modelId },
    sentenceEncoder: sentence,
    settings: { seeds: run.seeds, steps: run.steps, crop: DEMO_DEFAULTS.crop, batchSize: DEMO_DEFAULTS.batchSize, model: DEMO_DEFAULTS.model, lr: DEMO_DEFAULTS.lr, worldSeed: DEMO_DEFAULTS.worldSeed, worldScale: run.scale, jobs: run.jobs },
    world: samplesOfWorld,
    merge: { manifest: manifests.all, datasets: merged.rows, skipped: merged.skipped },
    labels: banked.labels,
    similarity: banked.similarity,
    clipReport: { html: path.relative(out, banked.clipReport.files.html), scores: banked.clipReport.scores },
    runs: plan.runs.map((r) => ({ ...r, train: trained[plan.at(r)] as TrainResult, eval: (evaluated[plan.at(r)] as EvalResult).results })),
    measurements,
    summary,
    main,
    predictions: predicted.predictions,
    unseenNames: unseenHeldOutNames(),
    legend: predicted.legend,
  });
  logResults(log, summary, resolutions);
  log(`report: ${report} (${wallSeconds.toFixed(0)} s in all)`);
  return { report, wallSeconds, stages: run.stages.map((s) => ({ name: s.name, seconds: s.seconds })), summary, resolutions };
}

/** 1. The world: synthetic scenes in four layouts. */
async function worldStage(run: DemoRun): Promise<WrittenWorld> {
  const world = await run.stage('world', `synthetic scenes in four layouts, seed ${DEMO_DEFAULTS.worldSeed}`, () => writeSceneWorld(path.join(run.out, 'world'), { seed: DEMO_DEFAULTS.worldSeed, scale: run.scale }));
  for (const d of world.datasets) run.log(`   ${d.spec.name.padEnd(8)} ${d.spec.format.padEnd(14)} ${[...d.conceptPixels.keys()].length} images  names: ${d.spec.classes.map((c) => c.name).join(', ')}`);
  return world;
}

/** 2. The manifests, and the real samples of ../shared/datasets merged beside the world (a sample that fails is listed as skipped). */
async function mergeStage(run: DemoRun, world: WrittenWorld, manifests: DemoManifests): Promise<{ rows: ReportData['merge']['datasets']; skipped: ReportData['merge']['skipped'] }> {
  const trainNames = WORLD_DATASETS.filter((d) => !d.heldOut).map((d) => d.name);
  return run.stage('merge', 'merge-datasets --keep-unmapped: world datasets, and the real samples of ../shared/datasets', async () => {
    const opts = { keepUnmapped: true, workers: Math.min(2, os.cpus().length) };
    await mergeDatasets(manifests.a, worldSpecs(world, ['city']), opts);
    await mergeDatasets(manifests.abc, worldSpecs(world, trainNames), opts);
    await mergeDatasets(manifests.eval, worldSpecs(world, WORLD_DATASETS.map((d) => d.name)), opts);
    const all = await mergeDatasets(manifests.all, worldSpecs(world, WORLD_DATASETS.map((d) => d.name)), opts);
    const rows: ReportData['merge']['datasets'] = all.summaries.map((s: MergeSummary) => ({ dataset: s.dataset, format: s.format, images: s.images, problems: s.problems, source: 'synthetic world' }));
    const skipped: ReportData['merge']['skipped'] = [];
    for (const { spec, source } of realSampleSpecs(run.options.shared)) {
      try {
        const r = await mergeDatasets(manifests.all, [spec], opts);
        for (const s of r.summaries) rows.push({ dataset: s.dataset, format: s.format, images: s.images, problems: s.problems, source: `../shared/${source}` });
      } catch (err) {
        skipped.push({ dataset: spec.name, reason: (err as Error).message });
      }
    }
    for (const r of rows) run.log(`   ${r.dataset.padEnd(16)} ${r.format.padEnd(14)} ${String(r.images).padStart(4)} images ${r.problems} problems`);
    for (const k of skipped) run.log(`   ${k.dataset}: not merged (${k.reason})`);
    return { rows, skipped };
  });
}

/** 3. The label bank: the world's names with WordNet descriptions; CLIP, lexical and one-hot embeddings; cosine heat maps. */
async function embedStage(run: DemoRun, clip: ReturnType<typeof chooseClip>, manifests: DemoManifests, bankFile: string) {
  const { out, log } = run;
  return run.stage('embed', 'label bank: WordNet descriptions of the world names; CLIP, lexical and one-hot embeddings', async () => {
    const bank = LabelBank.open(bankFile);
    try {
      const labels = addWorldLabels(bank);
      log(`   ${labels.length} world label names (${labels.filter((l) => !l.shipped).length} added to the 238 shipped), WordNet descriptions`);
      const clipEmbed = await embedWithClip(bank, clip.folder);
      log(`   CLIP ${clipEmbed.modelId}: ${clipEmbed.texts} texts in ${clipEmbed.seconds.toFixed(1)} s${clip.random ? ' (random weights: no meaning)' : ''}`);
      const lexical = await embedWithLexical(bank, DEMO_DEFAULTS.lexicalDim);
      log(`   lexical baseline ${lexical.modelId}: ${lexical.texts} texts in ${lexical.seconds.toFixed(1)} s`);
      const onehotA = await embedOneHot(bank, manifests.a);
      const onehotAbc = await embedOneHot(bank, manifests.abc);
      log(`   one-hot: ${onehotA.dim} labels for (a), ${onehotAbc.dim} for (b)`);
      const clipReport = await writeSimilarityReport(bank, { outDir: path.join(out, 'label-report'), modelId: clipEmbed.modelId });
      // The world's labels: cosine matrices of their sentence embeddings, lexical and CLIP.
      const names = labels.map((l) => l.name);
      const rows = names.map((n) => bank.requireLabel(n));
      const similarity: ReportData['similarity'] = [];
      for (const modelId of [lexical.modelId, clipEmbed.modelId]) {
        const m = bank.embeddingMatrix('sentence', modelId, rows);
        const sim = cosineMatrix(m.data, m.dim, names.map((_, i) => i));
        const png = `assets/similarity-${modelId === lexical.modelId ? 'lexical' : 'clip'}.png`;
        writeFileSync(path.join(out, png), heatmapPng(sim, names.length, { cellPx: 16, min: -0.2, max: 1, boundaries: [] }));
        similarity.push({ png, names, modelId, cosines: Array.from(sim, (v) => Math.round(v * 1000) / 1000) });
      }
      return { labels, clipEmbed, lexical, onehotA, onehotAbc, clipReport, similarity };
    } finally {
      bank.close();
    }
  });
}

/** The runs: conditions × seeds at the main loss resolution; with lossResolution `both`, (c) once more per seed at the other. */
function planRuns(run: DemoRun): RunPlan {
  const { options, out, seeds } = run;
  const defaultResolution = DEFAULT_CONFIG.losses.resolution as LossResolution;
  const mainResolution = options.lossResolution === undefined || options.lossResolution === 'both' ? defaultResolution : options.lossResolution;
  const otherResolution: LossResolution = mainResolution === 'output' ? 'label' : 'output';
  const runs = CONDITIONS.flatMap((condition) => seeds.map((seed) => ({ condition, seed, run: path.join(out, 'runs', `${condition}-seed${seed}`) })));
  // lossResolution both: (c) once more per seed at the other resolution, each beside its main run
  // in the job order, so both resolutions train under the same machine load.
  const extra = options.lossResolution === 'both' ? seeds.map((seed) => ({ condition: 'c' as Condition, seed, run: path.join(out, 'runs', `c-${otherResolution}-seed${seed}`) })) : [];
  const allRuns = runs.flatMap((r) => [{ ...r, resolution: mainResolution, tag: '' }, ...extra.filter((x) => r.condition === 'c' && x.seed === r.seed).map((x) => ({ ...x, resolution: otherResolution, tag: `-${otherResolution}` }))]);
  return { runs, allRuns, withOtherResolution: extra.length > 0, mainResolution, otherResolution, at: (r) => allRuns.findIndex((x) => x.run === r.run) };
}

/** The training config of one run: the same model and budget for every condition; only the manifest and the label encoder differ. */
function trainConfigs(run: DemoRun, manifests: DemoManifests, bankFile: string, banked: Banked, sentence: SentenceEncoder) {
  return (condition: Condition, seed: number, resolution: LossResolution): TrainJob['config'] => ({
    seed,
    manifest: condition === 'a' ? manifests.a : manifests.abc,
    labelBank: bankFile,
    encoder: condition === 'a' ? banked.onehotA.modelId : condition === 'b' ? banked.onehotAbc.modelId : sentence.modelId,
    labelText: condition === 'c' ? 'sentence' : 'word',
    backend: 'auto',
    steps: run.steps,
    checkpointEvery: run.steps,
    keepCheckpoints: 1,
    // The demo runs `jobs` trainings at a time, one per core: each on one thread.
    model: { variant: DEMO_DEFAULTS.model, threads: 1 },
    data: { shortEdge: DEMO_DEFAULTS.crop, crop: DEMO_DEFAULTS.crop, batchSize: DEMO_DEFAULTS.batchSize, workers: 0, prefetch: 2 },
    optimizer: { lr: DEMO_DEFAULTS.lr, warmupSteps: Math.min(20, Math.floor(run.steps / 10)) },
    losses: { resolution },
  });
}

/** 4. Training: conditions × seeds, the same model and budget, `jobs` at a time. */
async function trainStage(run: DemoRun, plan: RunPlan, backendName: string, config: ReturnType<typeof trainConfigs>): Promise<TrainResult[]> {
  const { seeds, steps, jobs, log } = run;
  const trainJobs: Job[] = plan.allRuns.map((r) => ({ kind: 'train', id: `train-${r.condition}${r.tag}-seed${r.seed}`, run: r.run, config: config(r.condition, r.seed, r.resolution) }));
  const withExtra = plan.withOtherResolution ? ` + (c) at losses.resolution ${plan.otherResolution} × ${seeds.length} seeds` : '';
  return (await run.stage('train', `${plan.runs.length} runs (3 conditions × ${seeds.length} seeds) at losses.resolution ${plan.mainResolution}${withExtra}, ${steps} steps each, ${jobs} at a time on ${backendName}`, () =>
    runJobs(trainJobs, path.join(run.out, 'jobs'), jobs, (job, result, done) => {
      const r = result as TrainResult;
      const last = r.metrics[r.metrics.length - 1];
      log(`   [${done}/${trainJobs.length}] ${job.id}: loss ${r.metrics[0]?.loss.toFixed(3)} → ${last?.loss.toFixed(3)} in ${r.seconds.toFixed(0)} s`);
    }),
  )) as TrainResult[];
}

/** 5. Evaluation: every run on every world validation split. */
async function evalStage(run: DemoRun, plan: RunPlan, world: WrittenWorld, manifests: DemoManifests, bankFile: string): Promise<{ targets: { dataset: string; split: string }[]; evaluated: EvalResult[] }> {
  const targets = world.datasets.map((d) => ({ dataset: d.spec.name, split: Object.keys(d.spec.splits).find((s) => /^val/.test(s)) as string }));
  const evalJobs: Job[] = plan.allRuns.map((r) => ({ kind: 'eval', id: `eval-${r.condition}${r.tag}-seed${r.seed}`, run: r.run, manifest: manifests.eval, labelBank: bankFile, targets, shortEdge: DEMO_DEFAULTS.crop } satisfies EvalJob));
  const evaluated = (await run.stage('eval', `${evalJobs.length} runs × ${targets.length} validation splits, single scale ${DEMO_DEFAULTS.crop}`, () =>
    runJobs(evalJobs, path.join(run.out, 'jobs'), run.jobs, (job, result, done) => {
      const r = result as EvalResult;
      run.log(`   [${done}/${evalJobs.length}] ${job.id}: ${r.results.map((e) => `${e.dataset} ${(e.miou * 100).toFixed(1)}`).join(', ')}`);
    }),
  )) as EvalResult[];
  return { targets, evaluated };
}

/** Condition (c)'s runs at each loss resolution, output first: mIoU per dataset and every step's time. */
function resolutionRuns(plan: RunPlan, trained: TrainResult[], evaluated: EvalResult[]) {
  return plan.allRuns
    .map((r, i) => ({ ...r, i }))
    .filter((r) => r.condition === 'c')
    .map((r) => ({
      resolution: r.resolution,
      seed: r.seed,
      miou: Object.fromEntries((evaluated[r.i] as EvalResult).results.map((e) => [e.dataset, e.miou])),
      stepSeconds: (trained[r.i] as TrainResult).metrics.map((m) => m.stepSeconds),
    }))
    .sort((x, y) => (x.resolution === y.resolution ? 0 : x.resolution === 'output' ? -1 : 1));
}

/** 6. Predict on held-out scenes with the main model, asked for the held-out dataset's own names. */
async function predictStage(run: DemoRun, world: WrittenWorld, main: ReportData['main'], evalManifest: string, bankFile: string): Promise<Pick<ReportData, 'predictions' | 'legend'>> {
  const { out } = run;
  const heldOut = world.datasets.find((d) => d.spec.heldOut);
  return run.stage('predict', `main model (c, seed ${main.seed}) on held-out scenes`, async () => {
    if (!heldOut) return { predictions: [], legend: [] };
    const reader = ManifestReader.open(evalManifest);
    try {
      const samples = [...reader.samples(heldOut.spec.name)].slice(0, run.options.predictImages ?? 6);
      const names = heldOut.spec.classes.map((c) => c.name);
      const summaryPredict = await predict({ run: main.run, labelBank: bankFile, inputs: samples.map((s) => s.image), out: path.join(out, 'predict'), labels: names.map((name) => ({ name })), shortEdge: DEMO_DEFAULTS.crop, scores: 0 });
      const predictions: ReportData['predictions'] = [];
      for (const [i, p] of summaryPredict.images.entries()) {
        const sample = samples.find((s) => s.image === p.input);
        if (!sample?.mask) continue;
        const mask = readMaskValues(sample.mask, 'gray');
        const image = `assets/heldout-${i}.png`;
        await sharp(sample.image).png().toFile(path.join(out, image));
        const truth = `assets/heldout-${i}-truth.png`;
        // Held-out class ids are 0..7 in the order of `names`, so ids and legend indices coincide.
        await colourise(path.join(out, truth), mask.values, mask.width, mask.height);
        const labelsPng = await sharp(p.labelsPng).raw().toBuffer({ resolveWithObject: true });
        const prediction = `assets/heldout-${i}-prediction.png`;
        await colourise(path.join(out, prediction), labelsPng.data.filter((_, k) => k % labelsPng.info.channels === 0), labelsPng.info.width, labelsPng.info.height);
        predictions.push({ image, truth, prediction, present: p.legend.map((l) => l.name) });
      }
      return { predictions, legend: names.map((name, i) => ({ name, colour: labelColour(i) })) };
    } finally {
      reader.close();
    }
  });
}

/** 7. The report's world section: each dataset's splits and classes, and its first image as a PNG under assets/. */
async function worldSamples(out: string, world: WrittenWorld): Promise<ReportData['world']> {
  const samplesOfWorld: ReportData['world'] = [];
  for (const d of world.datasets) {
    const first = [...d.conceptPixels.keys()][0];
    let sample: string | null = null;
    if (first) {
      sample = `assets/world-${d.spec.name}.png`;
      await sharp(path.join(d.root, first)).png().toFile(path.join(out, sample));
    }
    samplesOfWorld.push({ name: d.spec.name, format: d.spec.format, heldOut: d.spec.heldOut, splits: d.splitCounts, classes: d.spec.classes.map((c) => ({ concept: c.concept, name: c.name })), sample });
  }
  return samplesOfWorld;
}

/** The results on the terminal: mIoU per condition, the ordering, and with lossResolution `both` the two resolutions. */
function logResults(log: (line: string) => void, summary: ReturnType<typeof summarizeExperiment>, resolutions: ResolutionComparison[] | null): void {
  log('── results: mIoU (%) mean ± std over seeds');
  for (const c of CONDITIONS) log(`   (${c}) ${summary.datasets.map((d) => `${d} ${formatSpread(summary.cells[c][d] as never)}`).join('  ')}  | mean ${formatSpread(summary.overall[c])}`);
  const o = summary.ordering['mean over datasets'];
  log(`   (c) > (b) > (a) over the mean of the datasets: ${o?.holds ? 'holds' : 'does not hold'} ((c) > (b): ${o?.cOverB ? 'yes' : 'no'}, (b) > (a): ${o?.bOverA ? 'yes' : 'no'})`);
  if (resolutions) {
    log('── losses.resolution, condition (c): mIoU (%) mean ± std over seeds; median step time of every step (one demo run, same load)');
    for (const r of resolutions) log(`   ${r.resolution.padEnd(6)} ${summary.datasets.map((d) => `${d} ${formatSpread(r.perDataset[d] as never)}`).join('  ')}  | mean ${formatSpread(r.overall)}  | step ${r.medianStepSeconds.toFixed(3)} s (×${r.stepRatio.toFixed(2)})`);
  }
}
