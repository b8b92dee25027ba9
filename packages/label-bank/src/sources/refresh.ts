import type { LabelBank, LabelRow } from '../store/bank.js';
import { sentenceText } from '../text.js';
import type { WikiClient } from './wikipedia/client.js';
import { fetchLeadSentence, type RetryPolicy } from './wikipedia/fetch-lead.js';
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
  /** Labels not looked up because the network is unreachable (kept their description). */
  notRefreshed: { name: string; reason: string }[];
}

export interface RefreshOptions {
  /** A subset of label names (default: every label in the bank). */
  labels?: string[];
  /** Called after each label. */
  onProgress?: (done: number, total: number, name: string) => void;
}

function selectLabels(bank: LabelBank, names: string[] | undefined): LabelRow[] {
  if (names === undefined || names.length === 0) return bank.labels();
  return names.map((n) => bank.requireLabel(n));
}

function emptyReport(source: FetchSource): RefreshReport {
  return { source, updated: [], unchanged: [], kept: [], failed: [], notRefreshed: [] };
}

function apply(bank: LabelBank, report: RefreshReport, label: LabelRow, title: string, text: string, source: FetchSource): void {
  if (label.description === text && label.source === source) {
    report.unchanged.push(label.name);
    return;
  }
  bank.setDescription(label.name, text, source);
  report.updated.push({ name: label.name, title, text });
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
  await pool(labels, policy.concurrency, async (label) => {
    const title = label.wikipediaTitle ?? label.name;
    if (offlineReason !== null) {
      report.notRefreshed.push({ name: label.name, reason: `no network (${offlineReason})` });
    } else {
      const outcome = await fetchLeadSentence(client, title, policy);
      switch (outcome.status) {
        case 'ok':
          apply(bank, report, label, outcome.title, sentenceText(label.name, outcome.sentence), 'wikipedia');
          break;
        case 'disambiguation':
          report.kept.push({ name: label.name, reason: `"${outcome.title}" is a disambiguation page; kept the ${label.source} text` });
          break;
        case 'missing':
          report.kept.push({ name: label.name, reason: `no article "${title}"; kept the ${label.source} text` });
          break;
        case 'empty':
          report.kept.push({ name: label.name, reason: `article "${outcome.title}" has no lead text; kept the ${label.source} text` });
          break;
        case 'failed':
          report.failed.push({ name: label.name, reason: `${outcome.reason} after ${outcome.attempts} tries` });
          break;
        case 'offline':
          offlineReason = outcome.reason;
          report.notRefreshed.push({ name: label.name, reason: `no network (${outcome.reason})` });
          break;
      }
    }
    done += 1;
    options.onProgress?.(done, labels.length, label.name);
  });
  return report;
}

/** Refreshes descriptions from WordNet 3.1: "An image of {name}. {first noun-sense gloss}." */
export async function refreshFromWordNet(bank: LabelBank, wordnet: WordNet = new WordNet(), options: RefreshOptions = {}): Promise<RefreshReport> {
  const labels = selectLabels(bank, options.labels);
  const report = emptyReport('wordnet');
  labels.forEach((label, i) => {
    const candidates = wordNetCandidates(label.name, label.wikipediaTitle);
    const hit = wordnet.senseForLabel(candidates, label.group);
    if (!hit) {
      report.kept.push({ name: label.name, reason: `WordNet has no noun ${candidates.map((c) => `"${c}"`).join(', ')}; kept the ${label.source} text` });
    } else {
      apply(bank, report, label, hit.lemma, sentenceText(label.name, glossSentence(hit.definition)), 'wordnet');
    }
    options.onProgress?.(i + 1, labels.length, label.name);
  });
  return report;
}
