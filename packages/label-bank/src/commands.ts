import { existsSync } from 'node:fs';
import { flushAndExit } from '@sentseg/common';
import path from 'node:path';
import type { Argv } from 'yargs';
import { addLabel } from './add-label.js';
import { embedLabels } from './embed.js';
import type { SentenceEncoder } from './encoder/sentence-encoder.js';
import { LabelBankError } from './errors.js';
import { nearestLabels } from './neighbours.js';
import type { HubOptions } from './encoder/hub.js';
import { CLIP_TOKENIZER_ENV } from './encoder/token-counter.js';
import { hubOptionsFromArgs, hubYargsOptions, type HubArgs } from './hub-cli.js';
import { labelBankBar } from './progress.js';
import type { ReferenceSummary } from './reference/agreement.js';
import { checkEncoder, MATCH_MEAN_COSINE, type EncoderCheck } from './reference/check-encoder.js';
import { readReferenceFile } from './reference/reference-file.js';
import { writeSimilarityReport } from './report/index.js';
import { refreshFromWikipedia, refreshFromWordNet, skippedLabels, type LabelRefreshStatus, type RefreshReport } from './sources/refresh.js';
import { createWikiClient, DEFAULT_API_URL } from './sources/wikipedia/client.js';
import { fetchLeadSentence } from './sources/wikipedia/fetch-lead.js';
import { LabelBank, type DescriptionSource } from './store/bank.js';
import { listEncoders, loadableName, matchEncoder } from './store/encoder-names.js';

interface GlobalArgs {
  bank: string;
  'labels-file'?: string;
  json: boolean;
}

// The encoder modules load @huggingface/transformers and onnxruntime (about 0.3 s of every start,
// measured with node --cpu-prof): only the commands that encode import them.
const loadTextEncoder = async (model: string, hub: HubOptions) => (await import('./encoder/load.js')).loadTextEncoder(model, { hub });

const out = (line = '') => process.stdout.write(`${line}\n`);
const warn = (line: string) => process.stderr.write(`warning: ${line}\n`);
const printJson = (value: unknown) => out(JSON.stringify(value, null, 2));

/** Opens the bank, runs `work`, and closes the bank on every way out (a thrown error included). */
async function withBank<T>(args: GlobalArgs, work: (bank: LabelBank) => T | Promise<T>, readonly = false): Promise<T> {
  const bank = LabelBank.open(args.bank, readonly ? { readonly } : { labelsFile: args['labels-file'] });
  try {
    return await work(bank);
  } finally {
    bank.close();
  }
}

function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * What --model loads: when it names one of the bank's encoders (its id, the name it was embedded
 * with, its folder, its hub id), that encoder's stored location; else the name as given.
 */
function modelToLoad(bankFile: string, model: string): string {
  if (existsSync(bankFile)) {
    const bank = LabelBank.open(bankFile, { readonly: true });
    try {
      const found = matchEncoder(bank.models(), model);
      if (found) return found.location;
    } finally {
      bank.close();
    }
  }
  return loadableName(model);
}

/** The encoder named by --model, or the one the bank already has embeddings of. */
async function resolveEncoder(bank: LabelBank, model: string | undefined, hub: HubOptions): Promise<SentenceEncoder> {
  if (model !== undefined) return loadTextEncoder(model, hub);
  const models = bank.models();
  if (models.length === 1) return loadTextEncoder((models[0] as { location: string }).location, hub);
  if (models.length === 0) throw new LabelBankError('BAD_ARGUMENT', 'no text encoder: pass --model <folder in transformers.js layout | hub id>');
  throw new LabelBankError('BAD_ARGUMENT', `the bank holds ${models.length} encoders: ${listEncoders(models)}; pass --model with its id or the name in brackets`);
}

function printRefresh(report: RefreshReport, total: number): void {
  out(`${report.source}: ${total} labels looked up`);
  out(`  updated        ${report.updated.length}`);
  out(`  unchanged      ${report.unchanged.length}`);
  out(`  kept           ${report.kept.length}`);
  out(`  failed         ${report.failed.length}`);
  out(`  not refreshed  ${report.notRefreshed.length}`);
  for (const k of report.kept) out(`  kept ${k.name}: ${k.reason}`);
  for (const f of report.failed) out(`  FAILED ${f.name}: ${f.reason}`);
  const byReason = new Map<string, string[]>();
  for (const n of report.notRefreshed) byReason.set(n.reason, [...(byReason.get(n.reason) ?? []), n.name]);
  for (const [reason, names] of byReason) out(`  NOT REFRESHED (${reason}; descriptions unchanged): ${names.join(', ')}`);
}

/**
 * One report per finished label on stderr (stdout stays the result): a progress bar on a terminal,
 * a line per label elsewhere, so a fetch that waits on a slow server is never silent.
 */
function fetchProgress(source: string, total: number) {
  const tty = process.stderr.isTTY === true;
  const bar = labelBankBar(`fetch ${source}`, total, tty);
  const log = (line: string) => process.stderr.write(`fetch: ${line}\n`);
  return {
    /** One line before the first answer, so a server that is slow to answer is not met with silence. */
    start(what: string) {
      if (!tty) log(`${total} label${total === 1 ? '' : 's'} from ${what}`);
    },
    label(done: number, _total: number, name: string, status: LabelRefreshStatus, reason?: string) {
      if (tty) bar.update(done, { item: `${name}: ${status}` });
      else log(`[${done}/${total}] ${name}: ${status}${reason ? ` (${reason})` : ''}`);
    },
    retry({ title, attempt, reason, delayMs }: { title: string; attempt: number; reason: string; delayMs: number }) {
      if (!tty) log(`"${title}": ${reason}; try ${attempt + 1} in ${delayMs} ms`);
    },
    stop: () => bar.stop(),
  };
}

/** The names of `items`, the first `max` of them and a count of the rest. */
function someNames(items: { name: string }[], max = 10): string {
  const shown = items.slice(0, max).map((i) => i.name).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** A fetch that skipped labels exits 2 after its report: what it did refresh is kept. */
function failOnSkipped(report: RefreshReport, total: number): void {
  const skipped = skippedLabels(report);
  if (skipped.length === 0) return;
  throw new LabelBankError(
    'FETCH_FAILED',
    `${skipped.length} of ${total} labels not refreshed (${report.failed.length} failed, ${report.notRefreshed.length} not looked up or cut short); ` +
      `their descriptions are unchanged: ${someNames(skipped)}`,
  );
}

/** A usage check: `value` (when given) is a number of at least `min` (above it when `strict`), whole when `integer`. */
function atLeast(name: string, value: number | undefined, min: number, { strict = false, integer = false } = {}): true {
  if (value === undefined) return true;
  const ok = Number.isFinite(value) && (strict ? value > min : value >= min) && (!integer || Number.isInteger(value));
  if (!ok) throw new Error(`--${name} must be a ${integer ? 'whole ' : ''}number ${strict ? 'above' : 'of at least'} ${min}, got ${value}`);
  return true;
}

/** A .check for --api-url: an http(s) URL, so a typo fails once up front, not once per label. */
function httpUrl(name: string, value: string | undefined): true {
  if (value === undefined) return true;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new Error(`--${name} must be an http(s) URL of a MediaWiki api.php, got "${value}"`);
  return true;
}

/**
 * --timeout, --retries, --backoff and --deadline of the commands that ask a MediaWiki API (fetch,
 * add --wikipedia): one definition, so the two take the same flags with the same checks.
 */
function wikiRequestOptions<T>(y: Argv<T>, deadline: string) {
  return y
    .option('timeout', { type: 'number', default: 10_000, describe: 'per-request timeout (ms): an unanswered request is cancelled then' })
    .option('retries', { type: 'number', default: 3, describe: 'retries on timeout, HTTP 429 and 5xx' })
    .option('backoff', { type: 'number', default: 1000, describe: 'first retry delay (ms), doubled each retry' })
    .option('deadline', { type: 'number', describe: deadline })
    .check(
      (a) =>
        atLeast('timeout', a.timeout, 0, { strict: true }) &&
        atLeast('retries', a.retries, 0, { integer: true }) &&
        atLeast('backoff', a.backoff, 0) &&
        atLeast('deadline', a.deadline, 0, { strict: true }),
    );
}

/** A signal that aborts when --deadline seconds have passed (never without one), with the reason fetch and add print. */
function deadlineSignal(seconds: number | undefined): { signal: AbortSignal; clear: () => void } {
  const stop = new AbortController();
  const timer = seconds === undefined ? undefined : setTimeout(() => stop.abort(new Error(`the --deadline of ${seconds} s passed`)), seconds * 1000);
  return { signal: stop.signal, clear: () => clearTimeout(timer) };
}

function printReferenceAgreement(reference: ReferenceSummary): void {
  out(`reference ${reference.file}: ${reference.covered} labels (${reference.model ?? 'model not named'}; "${reference.prompt}")`);
  const width = Math.max(7, ...reference.agreements.map((a) => a.modelId.length));
  out(`  ${'encoder'.padEnd(width)}  text      Spearman  same nearest label`);
  for (const a of reference.agreements) {
    out(`  ${a.modelId.padEnd(width)}  ${a.kind.padEnd(8)}  ${Number.isFinite(a.spearman) ? a.spearman.toFixed(4).padStart(8) : '     n/a'}  ${a.sameNearest} of ${a.labels}`);
  }
}

function printEncoderCheck(check: EncoderCheck): void {
  if (check.dim.model !== check.dim.reference) {
    out(`does NOT match: ${check.modelId} gives ${check.dim.model}-d vectors, ${check.reference} holds ${check.dim.reference}-d ones`);
    return;
  }
  const figures = `mean cosine ${check.meanCosine.toFixed(4)}, min ${check.minCosine.toFixed(4)} over ${check.names} names of ${check.reference}`;
  if (check.matches) {
    out(`matches: ${check.modelId}: ${figures}`);
    return;
  }
  out(`does NOT match: ${check.modelId}: ${figures} (a match needs a mean of at least ${MATCH_MEAN_COSINE})`);
  out('least similar:');
  for (const w of check.worst) out(`  ${w.cosine.toFixed(4).padStart(7)}  "${w.text}" (${w.name})`);
}

interface AddArgs extends GlobalArgs, HubArgs {
  model?: string;
  group: string;
  wikipedia?: string;
  tokenizer?: string;
}

/** The part of `add` after the description is known: load the encoder, add, print (or stop at --deadline). */
async function addWithEncoder(args: AddArgs, name: string, text: { description: string; source: DescriptionSource }, signal: AbortSignal): Promise<void> {
  const hub = hubOptionsFromArgs(args);
  const named = args.model !== undefined ? await loadTextEncoder(modelToLoad(args.bank, args.model), hub) : undefined;
  await withBank(args, async (bank) => {
    const encoder = named ?? (await resolveEncoder(bank, undefined, hub));
    let result;
    try {
      result = await addLabel(
        bank,
        encoder,
        { name, description: text.description, source: text.source, group: args.group, wikipediaTitle: args.wikipedia },
        { tokenizer: args.tokenizer, cacheDir: args['cache-dir'], signal },
      );
    } finally {
      await encoder.dispose();
    }
    for (const c of result.confusable) {
      warn(`"${name}" is ${c.cosine.toFixed(3)} cosine from "${c.name}": the two will likely be confused`);
    }
    if (args.json) printJson(result);
    else {
      out(`added ${result.label.name} (id ${result.label.id}, ${result.tokens} CLIP tokens): ${result.label.description}`);
      out('nearest labels:');
      for (const n of result.neighbours) out(`  ${n.cosine.toFixed(4)}  ${n.name}`);
    }
  });
}

/**
 * Adds the label-bank commands and options to a yargs instance (the label-bank bin, or `sentseg
 * label-bank`). `invokedAs` starts the examples of --help: yargs' $0 is the bin alone, so under the
 * umbrella an example read "sentseg fetch ...", which is no command.
 */
export function labelBankCommands(y: Argv, invokedAs = 'label-bank'): Argv {
  return y
    .option('bank', { type: 'string', default: 'label-bank.sqlite', describe: 'label bank file (created from the shipped labels when missing; check-encoder reads none)' })
    .option('labels-file', { type: 'string', describe: 'labels JSON to seed a new bank (default: manifests/labels.json)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
    .command(
      'list',
      'list the labels with their group and description source',
      (c) => c,
      (args) =>
        withBank(args, (bank) => {
          const labels = bank.labels();
          if (args.json) printJson(labels);
          else for (const l of labels) out(`${String(l.id).padStart(3)}  ${l.name.padEnd(22)} ${l.group.padEnd(26)} ${l.source}`);
        }),
    )
    .command(
      'fetch',
      'refresh label descriptions from Wikipedia (or WordNet 3.1, offline)',
      (c) =>
        wikiRequestOptions(
          c
            .option('source', { choices: ['wikipedia', 'wordnet'] as const, default: 'wikipedia' as const, describe: 'where descriptions come from' })
            .option('api-url', { type: 'string', default: DEFAULT_API_URL, describe: 'MediaWiki API endpoint' })
            .option('labels', { type: 'string', describe: 'comma-separated subset of label names' })
            .option('concurrency', { type: 'number', default: 4, describe: 'requests in flight at once' }),
          'stop the whole fetch after this many seconds: requests in flight are cancelled, what finished is kept, the labels not refreshed are listed (exit 2)',
        )
          .check((a) => atLeast('concurrency', a.concurrency, 1, { integer: true }) && httpUrl('api-url', a['api-url']))
          .example(`${invokedAs} fetch --labels bus,car`, 'refresh two labels from English Wikipedia')
          .example(`${invokedAs} fetch --deadline 120`, 'give up after two minutes, keeping what was fetched')
          .example(`${invokedAs} fetch --source wordnet`, "each label's WordNet gloss of the sense it means"),
      (args) =>
        withBank(args, async (bank) => {
          const labels = splitList(args.labels);
          const total = labels?.length ?? bank.labels().length;
          const progress = fetchProgress(args.source, total);
          progress.start(
            args.source === 'wordnet'
              ? 'WordNet 3.1'
              : `${args['api-url']} (each request cancelled after ${args.timeout} ms, ${args.retries} retries; ${args.deadline === undefined ? 'no --deadline' : `--deadline ${args.deadline} s`})`,
          );
          const deadline = deadlineSignal(args.deadline);
          let report: RefreshReport;
          try {
            report =
              args.source === 'wordnet'
                ? await refreshFromWordNet(bank, undefined, { labels, onProgress: progress.label })
                : await refreshFromWikipedia(
                    bank,
                    createWikiClient(args['api-url']),
                    { timeoutMs: args.timeout, retries: args.retries, backoffMs: args.backoff, concurrency: args.concurrency },
                    { labels, onProgress: progress.label, onRetry: progress.retry, signal: deadline.signal },
                  );
          } finally {
            deadline.clear();
            progress.stop();
          }
          if (args.json) printJson(report);
          else printRefresh(report, total);
          failOnSkipped(report, total);
        }),
    )
    .command(
      'embed',
      "encode every label's sentence and word-only text with a CLIP text encoder (cached)",
      (c) =>
        hubYargsOptions(c)
          .option('model', {
            type: 'string',
            describe:
              'CLIP text tower: a local folder in transformers.js layout or a hub id ORG/NAME[@REVISION] (downloaded once into --cache-dir); or "lexical" for the weight-free lexical baseline ' +
              "(TF-IDF + WordNet hypernyms, lexical:dim=512,seed=0,depth=4); or the id of one of the bank's encoders; default: the bank's only encoder",
          })
          .option('labels', { type: 'string', describe: 'comma-separated subset of label names' })
          .example(`${invokedAs} embed --model ./clip-b32`, 'embed all labels with a local CLIP folder')
          .example(`${invokedAs} embed --model ORG/NAME`, 'a hub id, downloaded once into the model cache')
          .example(`${invokedAs} embed --model lexical`, 'no CLIP weights: the weight-free lexical baseline'),
      async (args) => {
        // A bad --model fails before the bank is opened (or created).
        const hub = hubOptionsFromArgs(args as HubArgs);
        const named = args.model !== undefined ? await loadTextEncoder(modelToLoad(args.bank, args.model), hub) : undefined;
        await withBank(args, async (bank) => {
          const encoder = named ?? (await resolveEncoder(bank, undefined, hub));
          try {
            const names = splitList(args.labels);
            const labels = names ? names.map((n) => bank.requireLabel(n)) : undefined;
            const bar = labelBankBar('embed', 1, !args.json && process.stderr.isTTY === true);
            const result = await embedLabels(bank, encoder, {
              labels,
              onProgress: (p) => {
                bar.setTotal(p.total);
                bar.update(p.done);
              },
            });
            bar.stop();
            for (const t of result.truncated) warn(`${t.kind} text of "${t.name}" is ${t.tokens} tokens; truncated to ${encoder.maxTokens}`);
            if (args.json) printJson(result);
            else {
              out(`model ${result.modelId}`);
              out(`${result.labels} labels, ${result.texts} texts: ${result.encoded} encoded, ${result.cached} from cache`);
              out(`${result.seconds.toFixed(2)} s, ${result.labelsPerSecond.toFixed(1)} labels/s`);
            }
          } finally {
            await encoder.dispose();
          }
        });
      },
    )
    .command(
      'report',
      'write the label-similarity matrices (word vs sentence) as PNG + HTML and print block scores',
      (c) =>
        c
          .option('model', { type: 'string', describe: "the bank's encoder: its id, or the name it was embedded with (lexical, a folder, ORG/NAME) (default: the only one)" })
          .option('out', { type: 'string', default: 'label-report', describe: 'output folder' })
          .option('cell', { type: 'number', default: 3, describe: 'pixels per matrix cell in the PNGs' })
          .option('reference', {
            type: 'string',
            describe:
              'JSON of real text-encoder vectors for some labels (../shared/models/clip-vit-b32-anchors/sentseg-labels-word.json: CLIP ViT-B/32 "a {name}"): ' +
              "adds its matrix and each encoder's Spearman and nearest-label agreement with it",
          })
          .example(`${invokedAs} report --reference REF.json`, 'beside real CLIP ViT-B/32 vectors'),
      async (args) => {
        // A bad reference is refused before the bank is opened and before anything is written.
        const reference = args.reference !== undefined ? readReferenceFile(args.reference) : undefined;
        await withBank(
          args,
          async (bank) => {
            const report = await writeSimilarityReport(bank, { outDir: path.resolve(args.out), modelId: args.model, cellPx: args.cell, reference });
            if (args.json) printJson(report);
            else {
              out(`model ${report.modelId}, ${report.labels} labels`);
              for (const kind of ['word', 'sentence'] as const) {
                const s = report.scores[kind];
                out(`block score ${kind.padEnd(8)} ${s.score.toFixed(4)}  (within ${s.within.toFixed(4)}, across ${s.across.toFixed(4)})`);
              }
              if (report.reference) printReferenceAgreement(report.reference);
              out(`wrote ${report.files.html}`);
            }
          },
          true,
        );
      },
    )
    .command(
      'check-encoder <model>',
      'say whether a text encoder gives the reference vectors (real CLIP ViT-B/32 "a {name}"): matches at mean cosine >= 0.99 (exit 0), else exit 1',
      (c) =>
        hubYargsOptions(c)
          .positional('model', { type: 'string', demandOption: true, describe: 'a local folder in transformers.js layout, a hub id ORG/NAME[@REVISION], lexical, or one of the bank\'s encoders' })
          .option('reference', { type: 'string', demandOption: true, describe: 'JSON of the vectors to match (../shared/models/clip-vit-b32-anchors/sentseg-labels-word.json)' })
          .option('count', { type: 'number', describe: "encode only the first N of the reference's names, in its order (default: all)" })
          // No examples: one with its required --reference does not fit yargs' example column under `sentseg label-bank`.
          .check((a) => atLeast('count', a.count, 1, { integer: true })),
      async (args) => {
        const reference = readReferenceFile(args.reference);
        const encoder = await loadTextEncoder(modelToLoad(args.bank, String(args.model)), hubOptionsFromArgs(args as HubArgs));
        let check: EncoderCheck;
        try {
          check = await checkEncoder(encoder, reference, args.count);
        } finally {
          await encoder.dispose();
        }
        if (args.json) printJson(check);
        else printEncoderCheck(check);
        // "Does not match" is an answer, not a usage error: exit 1, as cmp and diff do.
        if (!check.matches) await flushAndExit(1);
      },
    )
    .command(
      'add <name>',
      'add a zero-shot label, embed it, and show its nearest labels',
      (c) =>
        wikiRequestOptions(
          hubYargsOptions(c)
            .positional('name', { type: 'string', demandOption: true, describe: 'the new label' })
            .option('description', { type: 'string', describe: 'its description ("An image of {name}. " is prefixed when missing)' })
            .option('wikipedia', { type: 'string', describe: "take the description from this article's first sentence (--timeout, --retries, --backoff bound its requests)" })
            .option('api-url', { type: 'string', default: DEFAULT_API_URL, describe: 'MediaWiki API endpoint for --wikipedia' }),
          'give up after this many seconds for the whole command (the Wikipedia lookup, loading the encoder, embedding): nothing is added then (exit 2)',
        )
          .option('group', { type: 'string', default: 'added', describe: 'semantic group' })
          .option('tokenizer', {
            type: 'string',
            describe: `CLIP tokenizer.json to count tokens with when the encoder is not CLIP (also ${CLIP_TOKENIZER_ENV}; else one found in the model cache)`,
          })
          .option('model', { type: 'string', describe: "text encoder: the id of one of the bank's encoders, lexical, a folder or a hub id ORG/NAME[@REVISION] (default: the bank's only encoder)" })
          .conflicts('description', 'wikipedia')
          .check((a) => httpUrl('api-url', a['api-url']))
          .example(`${invokedAs} add zebra --description TEXT`, 'described in your own words')
          .example(`${invokedAs} add tram --wikipedia Tram`, "described by the article's first sentence"),
      async (args) => {
        const name = String(args.name);
        let description = args.description;
        let source: DescriptionSource = 'manual';
        if (description === undefined && args.wikipedia === undefined) {
          throw new LabelBankError('BAD_ARGUMENT', 'give --description TEXT or --wikipedia TITLE');
        }
        const deadline = deadlineSignal(args.deadline);
        try {
          if (args.wikipedia !== undefined) {
            const outcome = await fetchLeadSentence(
              createWikiClient(args['api-url']),
              args.wikipedia,
              { timeoutMs: args.timeout, retries: args.retries, backoffMs: args.backoff },
              { signal: deadline.signal },
            );
            if (outcome.status !== 'ok') {
              const why = 'reason' in outcome ? outcome.reason : outcome.status;
              const tries = outcome.status === 'failed' ? ` after ${outcome.attempts} ${outcome.attempts === 1 ? 'try' : 'tries'}` : '';
              throw new LabelBankError('FETCH_FAILED', `no description from Wikipedia article "${args.wikipedia}" at ${args['api-url']} (${why}${tries}); nothing was added`);
            }
            description = outcome.sentence;
            source = 'wikipedia';
          }
          await addWithEncoder(args, name, { description: description ?? '', source }, deadline.signal);
        } finally {
          deadline.clear();
        }
      },
    )
    .command(
      'import',
      'store label embeddings computed elsewhere (NumPy .npy, JSON, safetensors) as one more encoder of the bank',
      (c) =>
        c
          .option('encoder', { type: 'string', demandOption: true, describe: 'a name for the model the vectors came from (its id: import:NAME@<sha256 of file and names>)' })
          .option('file', { type: 'string', demandOption: true, describe: 'rows × dim float16 or float32 matrix: .npy, .json (array of rows) or .safetensors' })
          .option('names', { type: 'string', demandOption: true, describe: 'text file of label names, one per line, in the order of the rows' })
          .option('add-missing', { type: 'boolean', default: false, describe: 'add names the bank lacks as new labels (else they are listed and nothing is imported)' })
          .option('as', { choices: ['both', 'sentence', 'word'] as const, default: 'both' as const, describe: "which of a label's texts the vectors stand for" })
          .option('tensor', { type: 'string', describe: 'safetensors: the tensor to read when the file holds several' })
          .option('allow-other-dim', { type: 'boolean', default: false, describe: "import vectors whose size differs from the bank's other encoders'" }),
      async (args) => {
        const { importEmbeddings } = await import('./import/import-embeddings.js');
        await withBank(args, (bank) => {
          const result = importEmbeddings(bank, {
            encoder: args.encoder,
            file: args.file,
            names: args.names,
            addMissing: args['add-missing'],
            as: args.as,
            tensor: args.tensor,
            allowOtherDim: args['allow-other-dim'],
          });
          if (args.json) printJson(result);
          else {
            out(`encoder ${result.modelId}: ${result.rows} rows of ${result.dim} (${result.dtype}), L2-normalised`);
            out(`${result.labels} labels got a vector${result.added.length > 0 ? `, ${result.added.length} of them added as new labels` : ''}; ${result.without} labels of the bank have none`);
            for (const n of result.normalised) out(`  "${n.name}" taken as label "${n.label}"`);
          }
        });
      },
    )
    .command(
      'show <name>',
      "print a label's description, source and nearest labels",
      (c) =>
        c
          .positional('name', { type: 'string', demandOption: true, describe: 'the label' })
          .option('model', { type: 'string', describe: "the bank's encoder for neighbours: its id, or the name it was embedded with (lexical, a folder, ORG/NAME) (default: the only one)" }),
      (args) =>
        withBank(args, (bank) => {
          const label = bank.requireLabel(String(args.name));
          const descriptions = bank.descriptions(label.name);
          let neighbours: { name: string; cosine: number }[] = [];
          if (bank.models().length > 0) {
            const matrix = bank.embeddingMatrix('sentence', args.model);
            const row = matrix.labels.findIndex((l) => l.name === label.name);
            neighbours = nearestLabels(matrix, matrix.data.subarray(row * matrix.dim, (row + 1) * matrix.dim), 5, [label.name]);
          }
          if (args.json) printJson({ label, descriptions, neighbours });
          else {
            out(`${label.name} (id ${label.id}, group ${label.group})`);
            out(`description: ${label.description}`);
            out(`source: ${label.source}${label.fetchedAt ? `, fetched ${label.fetchedAt}` : ''}${label.wikipediaTitle ? `, article "${label.wikipediaTitle}"` : ''}`);
            for (const d of descriptions.filter((d) => d.text !== label.description)) out(`also (${d.source}): ${d.text}`);
            if (neighbours.length > 0) {
              out('nearest labels:');
              for (const n of neighbours) out(`  ${n.cosine.toFixed(4)}  ${n.name}`);
            } else out('nearest labels: none yet (run label-bank embed)');
          }
        }),
    )
    .command(
      'use',
      'make the stored description of one source active (e.g. back to the shipped texts)',
      (c) =>
        c
          .option('source', { choices: ['shipped', 'wikipedia', 'wordnet', 'manual'] as const, demandOption: true, describe: 'whose stored description becomes active' })
          .option('labels', { type: 'string', describe: 'comma-separated subset of label names' }),
      (args) =>
        withBank(args, (bank) => {
          const result = bank.useSource(args.source, splitList(args.labels));
          if (args.json) printJson(result);
          else {
            out(`${result.switched.length} labels now use their ${args.source} description`);
            if (result.without.length > 0) out(`no ${args.source} description (unchanged): ${result.without.join(', ')}`);
          }
        }),
    )
    .command(
      'tiny-encoder <dir>',
      'write a random-weight CLIP-architecture text encoder (for tests and demos without real weights)',
      (c) =>
        c
          .positional('dir', { type: 'string', demandOption: true, describe: 'folder to write the model to (transformers.js layout)' })
          .option('tokenizer', { type: 'string', demandOption: true, describe: 'the CLIP tokenizer.json to use' })
          .option('seed', { type: 'number', default: 0, describe: 'seed of the random weights' })
          .option('projection-dim', { type: 'number', default: 64, describe: 'size of the output embeddings' }),
      async (args) => {
        const { writeTinyClipTextModel } = await import('./clip/tiny-text.js');
        const written = writeTinyClipTextModel(path.resolve(String(args.dir)), { tokenizerJson: args.tokenizer, seed: args.seed, projectionDim: args['projection-dim'] });
        if (args.json) printJson(written);
        else out(`wrote a random-weight CLIP text encoder (${written.projectionDim}-d) to ${written.dir}`);
      },
    )
    .demandCommand(1, 'name a command')
    .strict();
}

/** Errors a user can fix (bad input), as opposed to bugs. */
export const isLabelBankError = (err: unknown): boolean => err instanceof LabelBankError;
