/**
 * A MediaWiki API client over Node's fetch, sending the two queries label-bank needs. It replaces
 * wikijs, whose requests take no AbortSignal: a request that timed out, or was cut by
 * `fetch --deadline`, kept its socket open until the server answered (forever, against a server
 * that accepts the connection and never answers). Here every request, and the reading of its body,
 * ends when its signal aborts.
 */

/** The part of a MediaWiki page record that label-bank reads. */
export interface WikiPageRecord {
  title: string;
  pageid: number;
  pageprops?: Record<string, unknown>;
}

/** What label-bank asks of a MediaWiki API. Each call ends (rejects) when `signal` aborts. */
export interface WikiClient {
  /** The article `title` names, redirects followed; null when there is no such article. */
  page(title: string, signal?: AbortSignal): Promise<WikiPageRecord | null>;
  /** The plain-text lead section of the article with this page id ('' when it has none). */
  lead(pageid: number, signal?: AbortSignal): Promise<string>;
}

export const DEFAULT_API_URL = 'https://en.wikipedia.org/w/api.php';

const DEFAULT_USER_AGENT = 'sentseg-label-bank/0.1 (label descriptions for semantic segmentation)';

/** An HTTP answer that is not 2xx: the message starts with the status, as the retry rule reads it. */
export class WikiHttpError extends Error {
  readonly status: number;

  constructor(status: number, statusText: string) {
    super(`${status}: ${statusText}`);
    this.name = 'WikiHttpError';
    this.status = status;
  }
}

interface QueryAnswer {
  error?: { info?: string };
  query?: { pages?: Record<string, { pageid?: number; title?: string; missing?: unknown; pageprops?: Record<string, unknown>; extract?: string }> };
}

/** A client for a MediaWiki API endpoint (English Wikipedia by default), JSON format version 1. */
export function createWikiClient(apiUrl: string = DEFAULT_API_URL, userAgent = DEFAULT_USER_AGENT): WikiClient {
  async function query(params: Record<string, string>, signal: AbortSignal | undefined): Promise<QueryAnswer> {
    const url = `${apiUrl}?${new URLSearchParams({ format: 'json', action: 'query', redirects: '1', ...params })}`;
    const res = await fetch(url, { headers: { 'User-Agent': userAgent }, signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new WikiHttpError(res.status, res.statusText);
    }
    const answer = (await res.json()) as QueryAnswer;
    if (answer.error) throw new Error(answer.error.info ?? 'MediaWiki API error');
    return answer;
  }

  return {
    async page(title, signal) {
      const answer = await query({ prop: 'info|pageprops', inprop: 'url', ppprop: 'disambiguation', titles: title }, signal);
      const [id, page] = Object.entries(answer.query?.pages ?? {})[0] ?? [];
      if (id === undefined || id === '-1' || page === undefined || 'missing' in page || page.pageid === undefined) return null;
      return { title: page.title ?? title, pageid: page.pageid, ...(page.pageprops ? { pageprops: page.pageprops } : {}) };
    },
    async lead(pageid, signal) {
      const answer = await query({ prop: 'extracts', explaintext: '', exintro: '', pageids: String(pageid) }, signal);
      return answer.query?.pages?.[String(pageid)]?.extract ?? '';
    },
  };
}
