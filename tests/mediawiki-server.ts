import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One article of the fake wiki. */
export interface FakeArticle {
  pageid: number;
  extract: string;
  disambiguation?: boolean;
}

export interface FakeWikiSetup {
  articles: Record<string, FakeArticle>;
  redirects?: Record<string, string>;
  /** Titles whose first N page requests answer HTTP 429. */
  throttled?: Record<string, number>;
  /** Titles whose page requests always answer HTTP 503. */
  broken?: string[];
  /** Titles whose page requests never get an answer. */
  hanging?: string[];
}

export interface FakeWiki {
  apiUrl: string;
  requests: URLSearchParams[];
  maxInFlight: number;
  /** Hanging requests whose connection the client has closed (cancelled). */
  hangingClosed: number;
  resetStats(): void;
  close(): Promise<void>;
}

/**
 * A small MediaWiki-compatible api.php on 127.0.0.1 answering the queries label-bank sends, in the real
 * API's JSON shapes (formatversion 1): page info with pageprops, redirects, missing pages, extracts.
 */
export async function startFakeWiki(setup: FakeWikiSetup): Promise<FakeWiki> {
  const requests: URLSearchParams[] = [];
  const throttled = { ...(setup.throttled ?? {}) };
  let inFlight = 0;
  let maxInFlight = 0;
  let hangingClosed = 0;
  const byId = new Map(Object.entries(setup.articles).map(([title, a]) => [String(a.pageid), { title, ...a }]));

  const info = (title: string, a: FakeArticle) => ({
    pageid: a.pageid,
    ns: 0,
    title,
    contentmodel: 'wikitext',
    pagelanguage: 'en',
    pagelanguagehtmlcode: 'en',
    pagelanguagedir: 'ltr',
    touched: '2026-11-01T00:00:00Z',
    lastrevid: a.pageid * 10,
    length: a.extract.length * 20,
    fullurl: `https://en.wikipedia.org/wiki/${encodeURIComponent(title.replace(/ /g, '_'))}`,
    editurl: `https://en.wikipedia.org/w/index.php?title=${encodeURIComponent(title.replace(/ /g, '_'))}&action=edit`,
    canonicalurl: `https://en.wikipedia.org/wiki/${encodeURIComponent(title.replace(/ /g, '_'))}`,
    ...(a.disambiguation ? { pageprops: { disambiguation: '' } } : {}),
  });

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const q = url.searchParams;
    requests.push(q);
    const titles = q.get('titles');
    // A hanging request is abandoned by the client's timeout; it is not counted as in flight.
    if (titles !== null && setup.hanging?.includes(titles)) {
      res.on('close', () => (hangingClosed += 1));
      return;
    }
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const reply = (status: number, body: unknown, delayMs = 15) => {
      setTimeout(() => {
        inFlight -= 1;
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      }, delayMs);
    };
    if (url.pathname !== '/w/api.php' || q.get('action') !== 'query' || q.get('format') !== 'json') {
      return reply(400, { error: { code: 'badrequest', info: `unexpected request ${url.search}` } });
    }
    if (titles !== null) {
      if (setup.broken?.includes(titles)) return reply(503, 'Service Unavailable');
      if ((throttled[titles] ?? 0) > 0) {
        throttled[titles] = (throttled[titles] ?? 0) - 1;
        return reply(429, { error: { code: 'ratelimited', info: 'You have exceeded your rate limit.' } });
      }
      const target = setup.redirects?.[titles];
      const title = target ?? titles;
      const article = setup.articles[title];
      const query: Record<string, unknown> = {};
      if (target) query.redirects = [{ from: titles, to: target }];
      query.pages = article ? { [String(article.pageid)]: info(title, article) } : { '-1': { ns: 0, title, missing: '' } };
      return reply(200, { batchcomplete: '', query });
    }
    const pageid = q.get('pageids');
    if (pageid !== null && q.get('prop') === 'extracts') {
      const article = byId.get(pageid);
      if (!article) return reply(200, { batchcomplete: '', query: { pages: { [pageid]: { pageid: Number(pageid), missing: '' } } } });
      return reply(200, { batchcomplete: '', query: { pages: { [pageid]: { pageid: article.pageid, ns: 0, title: article.title, extract: article.extract } } } });
    }
    return reply(400, { error: { code: 'badrequest', info: `unexpected request ${url.search}` } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/w/api.php`,
    requests,
    get maxInFlight() {
      return maxInFlight;
    },
    get hangingClosed() {
      return hangingClosed;
    },
    resetStats() {
      maxInFlight = inFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL on 127.0.0.1 where nothing listens (connection refused: no network). */
export async function closedApiUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/w/api.php`;
}

/** A server on 127.0.0.1 that accepts every connection and request and never answers any. */
export interface SilentServer {
  apiUrl: string;
  /** Requests received so far. */
  received: number;
  /** Requests whose connection the client closed without an answer (cancelled). */
  cancelled: number;
  close(): Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  let received = 0;
  let cancelled = 0;
  const server = http.createServer((_req, res) => {
    received += 1;
    res.on('close', () => (cancelled += 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    apiUrl: `http://127.0.0.1:${port}/w/api.php`,
    get received() {
      return received;
    },
    get cancelled() {
      return cancelled;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits until `condition` holds, up to `ms`; returns whether it did. */
export async function eventually(condition: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}
