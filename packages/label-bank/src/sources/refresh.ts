import type { LabelBank, LabelRow } from '../store/bank.js';
import { sentenceText } from '../text.js';
import type { WikiClient } from './wikipedia/client.js';
import { fetchLeadSentence, type LeadOptions, type RetryPolicy } from './wikipedia/fetch-lead.js';
import { glossSentence, WordNet, wordNetCandidates } from './wordnet.js';

export type FetchSource = 'wikipedia' | 'wordnet';

/** What a fetch did, label by label. */
export interface RefreshReport {
  source: FetchSource;
  /** Labels whose active description changed. */
  updated: { name: string; title: string; text: string }[];
  /** Labels whose fetched text equals the one they had. */
  unchanged: string[];
  /** Labels that kept their description because the source had no usable text for them. */
  kept: { name: string; reason: string }[];
  /** Labels whose lookup failed after retries (kept their description). */
  failed: { name: string; reason: string }[];
  /** Labels not looked up, or whose lookup was cut, because the network is unreachable or the
   * fetch was stopped (its deadline passed): they kept their description. */
  notRefreshed: { name: string; reason: string }[];
}

/** How one label's refresh ended, as progress reports it. */
export type LabelRefreshStatus = 'updated' | 'unchanged' | 'kept' | 'failed' | 'not refreshed';

export interface RefreshOptions {
  /** A subset of label names (default: every label in the bank). */
  labels?: string[];
  /** Called as each label finishes, in the order they finish. */
  onProgress?: (done: number, total: number, name: string, status: LabelRefreshStatus, reason?: string) => void;
  /** Called before a lookup is retried (Wikipedia only). */
  onRetry?: LeadOptions['onRetry'];
  /** Stops the refresh (Wikipedia only): requests in flight are cancelled, what finished is kept,
   * the labels not finished are listed as not refreshed with the signal's reason. */
  signal?: AbortSignal;
}

/** The labels that were not refreshed: lookups that failed, or never ran / were cut. */
export function skippedLabels(report: RefreshReport): { name: string; reason: string }[] {
  return [...report.failed, ...report.notRefreshed];
}

function selectLabels(bank: LabelBank, names: string[] | undefined): LabelRow[] {
  if (names === undefined || names.length === 0) return bank.labels();
  return names.map((n) => bank.requireLabel(n));
}

function emptyReport(source: FetchSource): RefreshReport {
  return { source, updated: [], unchanged: [], kept: [], failed: [], notRefreshed: [] };
}

function apply(bank: LabelBank, report: RefreshReport, label: LabelRow, title: string, text: string, source: FetchSource): LabelRefreshStatus {
  if (label.description === text && label.source === source) {
    report.unchanged.push(label.name);
    return 'unchanged';
  }
  bank.setDescription(label.name, text, source);
  report.updated.push({ name: label.name, title, text });
  return 'updated';
}

/** Puts every list of the report in the labels' order, whatever order the lookups finished in. */
function inLabelOrder(report: RefreshReport, labels: LabelRow[]): RefreshReport {
  const position = new Map(labels.map((l, i) => [l.name, i]));
  const byName = <T>(name: (item: T) => string) => (a: T, b: T) => (position.get(name(a)) ?? 0) - (position.get(name(b)) ?? 0);
  report.updated.sort(byName((u) => u.name));
  report.unchanged.sort(byName((n) => n));
  for (const list of [report.kept, report.failed, report.notRefreshed]) list.sort(byName((k) => k.name));
  return report;
}

/** Runs `work` over `items` with at most `limit` in flight. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Refreshes descriptions from a MediaWiki API: "An image of {name}. {first sentence of the lead}".
 * A label keeps what it has when the page is a disambiguation page, missing, empty or unreachable.
 */
export async function refreshFromWikipedia(
  bank: LabelBank,
  client: WikiClient,
  policy: RetryPolicy & { concurrency: number },
  options: RefreshOptions = {},
): Promise<RefreshReport> {
  const labels = selectLabels(bank, options.labels);
  const report = emptyReport('wikipedia');
  let done = 0;
  let offlineReason: string | null = null;
  const withReason = { kept: report.kept, failed: report.failed, 'not refreshed': report.notRefreshed };
  const finish = (label: LabelRow, status: LabelRefreshStatus, reason?: string) => {
    if (status !== 'updated' && status !== 'unchanged') withReason[status].push({ name: label.name, reason: reason ?? '' });
    done += 1;
    options.onProgress?.(done, labels.length, label.name, status, reason);
  };
  await pool(labels, policy.concurrency, async (label) => {
    const title = label.wikipediaTitle ?? label.name;
    if (offlineReason !== null) return finish(label, 'not refreshed', `no network (${offlineReason})`);
    const outcome = await fetchLeadSentence(client, title, policy, { signal: options.signal, onRetry: options.onRetry });
    switch (outcome.status) {
      case 'ok':
        return finish(label, apply(bank, report, label, outcome.title, sentenceText(label.name, outcome.sentence), 'wikipedia'));
      case 'disambiguation':
        return finish(label, 'kept', `"${outcome.title}" is a disambiguation page; kept the ${label.source} text`);
      case 'missing':
        return finish(label, 'kept', `no article "${title}"; kept the ${label.source} text`);
      case 'empty':
        return finish(label, 'kept', `article "${outcome.title}" has no lead text; kept the ${label.source} text`);
      case 'failed':
        return finish(label, 'failed', `${outcome.reason} after ${outcome.attempts} tries`);
      case 'offline':
        offlineReason = outcome.reason;
        return finish(label, 'not refreshed', `no network (${outcome.reason})`);
      case 'stopped':
        return finish(label, 'not refreshed', outcome.reason);
    }
  });
  return inLabelOrder(report, labels);
}

/**
 * Refreshes descriptions from WordNet 3.1: "An image of {name}. {gloss}", the gloss of the sense
 * WordNet.chooseSense picks by the label's group, its hypernyms and its shipped description; a
 * label no sense fits keeps its text.
 */
export async function refreshFromWordNet(bank: LabelBank, wordnet: WordNet = new WordNet(), options: RefreshOptions = {}): Promise<RefreshReport> {
  const labels = selectLabels(bank, options.labels);
  const report = emptyReport('wordnet');
  labels.forEach((label, i) => {
    const candidates = wordNetCandidates(label.name, label.wikipediaTitle);
    // Senses are weighed against the label's shipped text (the reviewed one), whatever is active now.
    const shipped = bank.descriptions(label.name).find((d) => d.source === 'shipped')?.text ?? label.description;
    const choice = wordnet.chooseSense(label.name, candidates, label.group, shipped);
    const hit = choice?.sense;
    if (!hit) {
      const known = candidates.some((c) => wordnet.hasNoun(c));
      const reason = known
        ? `no WordNet sense of ${candidates.map((c) => `"${c}"`).join(', ')} fits the label's group and shipped description; kept the ${label.source} text`
        : `WordNet has no noun ${candidates.map((c) => `"${c}"`).join(', ')}; kept the ${label.source} text`;
      report.kept.push({ name: label.name, reason });
      options.onProgress?.(i + 1, labels.length, label.name, 'kept', reason);
    } else {
      const status = apply(bank, report, label, hit.lemma, sentenceText(label.name, glossSentence(hit.definition)), 'wordnet');
      options.onProgress?.(i + 1, labels.length, label.name, status);
    }
  });
  return report;
}
