import { firstSentence } from '../../text.js';
import type { WikiClient } from './client.js';

/** How one article lookup ended. */
export type LeadOutcome =
  | { status: 'ok'; title: string; sentence: string; attempts: number }
  | { status: 'disambiguation'; title: string; attempts: number }
  | { status: 'missing'; title: string; attempts: number }
  | { status: 'empty'; title: string; attempts: number }
  | { status: 'failed'; title: string; reason: string; attempts: number }
  | { status: 'offline'; title: string; reason: string; attempts: number };

export interface RetryPolicy {
  /** Per-request timeout. */
  timeoutMs: number;
  /** Retries after the first try, for timeouts, HTTP 429 and 5xx. */
  retries: number;
  /** First backoff; doubled on each retry. */
  backoffMs: number;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNRESET']);

type ErrorKind = 'missing' | 'retry' | 'offline' | 'fatal';

function classify(err: unknown): ErrorKind {
  if (err instanceof TimeoutError) return 'retry';
  const e = err as { message?: string; code?: string; errno?: string; type?: string };
  const message = e.message ?? String(err);
  if (message === 'No article found') return 'missing';
  if (/^(429|5\d\d):/.test(message)) return 'retry';
  if ((e.code && OFFLINE_CODES.has(e.code)) || (e.errno && OFFLINE_CODES.has(e.errno))) return 'offline';
  if (e.type === 'system') return 'offline';
  return 'fatal';
}

/**
 * Looks up an article through wikijs (which follows redirects) and returns the first sentence of
 * its lead. Timeouts, HTTP 429 and 5xx are retried with exponential backoff; connection errors
 * mean no network and are not retried.
 */
export async function fetchLeadSentence(client: WikiClient, title: string, policy: RetryPolicy): Promise<LeadOutcome> {
  let attempts = 0;
  for (;;) {
    attempts += 1;
    try {
      const page = await withTimeout(client.page(title), policy.timeoutMs);
      const resolved = page.raw.title ?? title;
      if (page.raw.pageprops && 'disambiguation' in page.raw.pageprops) return { status: 'disambiguation', title: resolved, attempts };
      const lead = (await withTimeout(page.summary(), policy.timeoutMs)) ?? '';
      const sentence = firstSentence(lead);
      if (sentence === '') return { status: 'empty', title: resolved, attempts };
      return { status: 'ok', title: resolved, sentence, attempts };
    } catch (err) {
      const kind = classify(err);
      const reason = (err as Error).message ?? String(err);
      if (kind === 'missing') return { status: 'missing', title, attempts };
      if (kind === 'offline') return { status: 'offline', title, reason, attempts };
      if (kind === 'fatal' || attempts > policy.retries) return { status: 'failed', title, reason, attempts };
      await sleep(policy.backoffMs * 2 ** (attempts - 1));
    }
  }
}
