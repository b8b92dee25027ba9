import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface FakeHubSetup {
  /** Repo id (ORG/NAME) → folder whose files it serves at ORG/NAME/resolve/<revision>/<file>. */
  repos: Record<string, string>;
  /** Revisions served (default: main only); any other answers 404 as the hub does. */
  revisions?: string[];
  /** Repos that answer 401 unless the request carries `Authorization: Bearer <token>`. */
  gated?: Record<string, string>;
  /** Files (ORG/NAME/FILE) whose requests are accepted and never answered. */
  hanging?: string[];
  /** Files (ORG/NAME/FILE) of which half is sent, then nothing more. */
  stalling?: string[];
}

export interface FakeHub {
  endpoint: string;
  /** Paths requested, in order. */
  requests: string[];
  authorizations: (string | undefined)[];
  close(): Promise<void>;
}

/** A Hugging Face hub stand-in on 127.0.0.1: `ORG/NAME/resolve/REVISION/FILE`, 404s as the hub gives them. */
export async function startFakeHub(setup: FakeHubSetup): Promise<FakeHub> {
  const requests: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const revisions = setup.revisions ?? ['main'];
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '').split('?')[0] as string);
    requests.push(url);
    authorizations.push(req.headers.authorization);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url);
    const notFound = (code: string) => {
      res.writeHead(404, { 'x-error-code': code, 'content-type': 'text/plain' });
      res.end(`${code}\n`);
    };
    if (!m) return notFound('RepoNotFound');
    const [, repo, revision, file] = m as unknown as [string, string, string, string];
    const folder = setup.repos[repo];
    if (folder === undefined) return notFound('RepoNotFound');
    const token = setup.gated?.[repo];
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'content-type': 'text/plain' });
      res.end('Access to this model is restricted\n');
      return;
    }
    if (!revisions.includes(revision)) return notFound('RevisionNotFound');
    const key = `${repo}/${file}`;
    if (setup.hanging?.includes(key)) return; // accepted, never answered
    const full = path.join(folder, file);
    if (!existsSync(full) || !statSync(full).isFile()) return notFound('EntryNotFound');
    const body = readFileSync(full);
    res.writeHead(200, { 'content-length': String(body.length), 'content-type': 'application/octet-stream', etag: `"${body.length}"` });
    if (setup.stalling?.includes(key)) {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      return; // the rest never comes
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
