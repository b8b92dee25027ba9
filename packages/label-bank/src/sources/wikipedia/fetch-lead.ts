import { setTimeout as sleep } from 'node:timers/promises';
import { firstSentence } from '../../text.js';
import { WikiHttpError, type WikiClient } from './client.js';

/** How one article lookup ended. */
export type LeadOutcome =
  | { status: 'ok'; title: string; sentence: string; attempts: number }
  | { status: 'disambiguation'; title: string; attempts: number }
  | { status: 'missing'; title: string; attempts: number }
  | { status: 'empty'; title: string; attempts: number }
  | { status: 'failed'; title: string; reason: string; attempts: number }
  | { status: 'offline'; title: string; reason: string; attempts: number }
  /** The caller's signal aborted (e.g. `fetch --deadline` passed): the request in flight was cancelled. */
  | { status: 'stopped'; title: string; reason: string; attempts: number };

export interface RetryPolicy {
  /** Per-request timeout: the request is cancelled when no complete answer came within it. */
  timeoutMs: number;
  /** Retries after the first try, for timeouts, HTTP 429 and 5xx. */
  retries: number;
  /** First backoff; doubled on each retry. */
  backoffMs: number;
}

export interface LeadOptions {
  /** Cancels the lookup: the request in flight is aborted and the outcome is 'stopped'. */
  signal?: AbortSignal;
  /** Called before each retry's backoff, with why the try failed. */
  onRetry?: (retry: { title: string; attempt: number; reason: string; delayMs: number }) => void;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

class StoppedError extends Error {
  constructor(signal: AbortSignal) {
    const reason: unknown = signal.reason;
    super(reason instanceof Error ? reason.message : String(reason ?? 'stopped'));
    this.name = 'StoppedError';
  }
}

/** Runs one request with its own timeout, cancelled too when `outer` aborts. */
async function bounded<T>(request: (signal: AbortSignal) => Promise<T>, ms: number, outer: AbortSignal | undefined): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  try {
    return await request(outer ? AbortSignal.any([outer, timeout]) : timeout);
  } catch (err) {
    if (outer?.aborted) throw new StoppedError(outer);
    if (timeout.aborted) throw new TimeoutError(ms);
    throw err;
  }
}

/** No route to the server: not retried, and the rest of a fetch is not tried either. */
const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** The connection broke mid-answer: worth another try. */
const RETRY_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

type ErrorKind = 'stopped' | 'retry' | 'offline' | 'fatal';

/** Node's fetch reports a network failure as TypeError('fetch failed') with the socket error as its cause. */
function networkCode(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code;
}

function classify(err: unknown): ErrorKind {
  if (err instanceof StoppedError) return 'stopped';
  if (err instanceof TimeoutError) return 'retry';
  if (err instanceof WikiHttpError) return err.status === 429 || err.status >= 500 ? 'retry' : 'fatal';
  const code = networkCode(err);
  if (code !== undefined && OFFLINE_CODES.has(code)) return 'offline';
  if (code !== undefined && RETRY_CODES.has(code)) return 'retry';
  return 'fatal';
}

function describe(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return cause ? `${message} (${cause})` : message;
}

/**
 * Looks up an article (redirects followed) and returns the first sentence of its lead. Timeouts,
 * HTTP 429 and 5xx are retried with exponential backoff; connection errors mean no network and are
 * not retried. Each request is cancelled after `timeoutMs`, and everything stops when `signal` aborts.
 */
export async function fetchLeadSentence(client: WikiClient, title: string, policy: RetryPolicy, options: LeadOptions = {}): Promise<LeadOutcome> {
  const { signal } = options;
  let attempts = 0;
  for (;;) {
    if (signal?.aborted) return { status: 'stopped', title, reason: new StoppedError(signal).message, attempts };
    attempts += 1;
    try {
      const page = await bounded((s) => client.page(title, s), policy.timeoutMs, signal);
      if (page === null) return { status: 'missing', title, attempts };
      if (page.pageprops && 'disambiguation' in page.pageprops) return { status: 'disambiguation', title: page.title, attempts };
      const lead = await bounded((s) => client.lead(page.pageid, s), policy.timeoutMs, signal);
      const sentence = firstSentence(lead);
      if (sentence === '') return { status: 'empty', title: page.title, attempts };
      return { status: 'ok', title: page.title, sentence, attempts };
    } catch (err) {
      const kind = classify(err);
      const reason = describe(err);
      if (kind === 'stopped') return { status: 'stopped', title, reason, attempts };
      if (kind === 'offline') return { status: 'offline', title, reason, attempts };
      if (kind === 'fatal' || attempts > policy.retries) return { status: 'failed', title, reason, attempts };
      const delayMs = policy.backoffMs * 2 ** (attempts - 1);
      options.onRetry?.({ title, attempt: attempts, reason, delayMs });
      try {
        await sleep(delayMs, undefined, { signal });
      } catch {
        return { status: 'stopped', title, reason: new StoppedError(signal as AbortSignal).message, attempts };
      }
    }
  }
}
