/**
 * One way to name an encoder of a bank, for every command that takes one (show, report, embed, add,
 * train): its full id (`lexical:dim=512,seed=0,depth=4@v1`, `local:clip@<sha>`, `hf:ORG/NAME@REV#<sha>`),
 * the name it was embedded or imported with (`lexical`, `lexical:dim=256`, a folder path,
 * `ORG/NAME[@REV]`, the --encoder NAME of label-bank import) or
 * what the bank stored as its location.
 */
import path from 'node:path';
import { hubIdText, parseHubId } from '../encoder/hub.js';
import { parseLexicalSpec } from '../encoder/lexical.js';

export interface NamedEncoder {
  modelId: string;
  location: string;
}

/** The location a name loads from when it is written as a full id (`lexical:…@v1`, `hf:…#sha`); else the name. */
export function loadableName(name: string): string {
  const lexical = /^(lexical(?::[^@]*)?)@v\d+$/.exec(name);
  if (lexical) return lexical[1] as string;
  const hub = /^hf:(.+)#[0-9a-f]+$/.exec(name);
  if (hub) return hub[1] as string;
  const imported = /^(import:[^@]+)@[0-9a-f]+$/.exec(name);
  if (imported) return imported[1] as string;
  return name;
}

/** The bank's encoder that `name` names, or undefined. */
export function matchEncoder<T extends NamedEncoder>(models: T[], name: string, base = process.cwd()): T | undefined {
  const exact = models.find((m) => m.modelId === name || m.location === name);
  if (exact) return exact;
  const candidates = new Set<string>();
  const loadable = loadableName(name);
  candidates.add(loadable);
  let lexical: ReturnType<typeof parseLexicalSpec> = null;
  try {
    lexical = parseLexicalSpec(loadable);
  } catch {
    lexical = null;
  }
  if (lexical) candidates.add(`lexical:dim=${lexical.dim},seed=${lexical.seed},depth=${lexical.depth}`);
  const hub = parseHubId(loadable);
  if (hub) candidates.add(hubIdText(hub));
  if (!lexical) candidates.add(path.resolve(base, loadable));
  candidates.add(`import:${loadable}`); // label-bank import --encoder NAME
  return models.find((m) => candidates.has(m.location));
}

/** "id (from LOCATION), ..." — the bank's encoders as a user can name them. */
export function listEncoders(models: NamedEncoder[]): string {
  if (models.length === 0) return 'none';
  return models.map((m) => (m.location === m.modelId ? m.modelId : `${m.modelId} (${m.location})`)).join(', ');
}
