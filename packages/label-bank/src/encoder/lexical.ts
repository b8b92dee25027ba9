/**
 * The lexical baseline encoder: a weight-free stand-in for CLIP's text tower, for machines with no
 * real CLIP weights. A text becomes TF-IDF weights over its content words plus the WordNet 3.1
 * synonyms and hypernyms of each word (so "automobile" and "car", or "street" and "road", share
 * terms), projected to `dim` dimensions by a fixed seeded random projection and L2-normalised.
 * Document frequencies come from the WordNet noun glosses (82k synsets), so a text's vector never
 * depends on which other texts are encoded with it. It carries lexical meaning only: no vision.
 */
import { seededNormal } from '@sentseg/common';
import { createHash } from 'node:crypto';
import { LabelBankError } from '../errors.js';
import { WordNet } from '../sources/wordnet.js';
import type { SentenceEncoder, Truncation } from './sentence-encoder.js';

export interface LexicalEncoderOptions {
  /** Output dimension (default 512, CLIP ViT-B/32's). */
  dim?: number;
  /** Seed of the random projection (default 0). */
  seed?: number;
  /** Hypernym levels added for the label name's words (default 4; description words get at most 2). */
  depth?: number;
}

const VERSION = 1;
/** Spec prefix: `lexical` or `lexical:dim=512,seed=0,depth=3`. */
export const LEXICAL_PREFIX = 'lexical';

// Function words and the label template's own words carry no meaning of their own.
const STOPWORDS = new Set(
  ('a an the of and or in on at to for from by with without as is are was were be been being it its this that these those ' +
    'which who whom whose what where when such than then there their them they he she his her one any some other usually ' +
    'especially often also can may used use into over under up out about more most very not no nor but so if each both all')
    .split(' '),
);

/** Lower-case word tokens (letters only; hyphens and punctuation split words). */
export function wordTokens(text: string): string[] {
  return (text.toLowerCase().match(/[a-z]+/g) ?? []).filter((t) => t.length > 1 && !STOPWORDS.has(t));
}

/** Drops the "An image of " template the bank puts in front of every label text. */
function stripTemplate(text: string): string {
  return text.replace(/^\s*an image of\s+/i, '');
}

interface Corpus {
  documents: number;
  df: Map<string, number>;
}

let corpusCache: { wordnet: WordNet; corpus: Corpus } | null = null;

/** Document frequencies over WordNet's noun synsets (each synset's words and gloss is one document). */
function wordNetCorpus(): { wordnet: WordNet; corpus: Corpus } {
  if (corpusCache) return corpusCache;
  const wordnet = new WordNet();
  const df = new Map<string, number>();
  let documents = 0;
  for (const line of wordnet.synsetLines()) {
    const bar = line.indexOf(' | ');
    const head = line.slice(0, bar).split(' ');
    const wordCount = parseInt(head[3] as string, 16);
    const words = Array.from({ length: wordCount }, (_, i) => (head[4 + 2 * i] as string).replace(/\(.*\)$/, ''));
    const terms = new Set<string>([...words.flatMap((w) => wordTokens(w.replace(/_/g, ' '))), ...wordTokens(line.slice(bar + 3))]);
    for (const t of terms) df.set(t, (df.get(t) ?? 0) + 1);
    documents += 1;
  }
  corpusCache = { wordnet, corpus: { documents, df } };
  return corpusCache;
}

/** Parses `lexical` / `lexical:dim=256,seed=1,depth=2` into options; null when the spec is not lexical. */
export function parseLexicalSpec(spec: string): Required<LexicalEncoderOptions> | null {
  if (spec !== LEXICAL_PREFIX && !spec.startsWith(`${LEXICAL_PREFIX}:`)) return null;
  const options = { dim: 512, seed: 0, depth: 4 };
  const rest = spec.slice(LEXICAL_PREFIX.length + 1);
  for (const part of rest === '' ? [] : rest.split(',')) {
    const [key, value] = part.split('=');
    const n = Number(value);
    if (!(key === 'dim' || key === 'seed' || key === 'depth') || !Number.isInteger(n) || n < 0 || (key === 'dim' && n < 2)) {
      throw new LabelBankError('BAD_ARGUMENT', `bad lexical encoder setting "${part}" in "${spec}" (use lexical:dim=512,seed=0,depth=4)`);
    }
    options[key] = n;
  }
  return options;
}

export class LexicalEncoder implements SentenceEncoder {
  readonly modelId: string;
  readonly location: string;
  readonly maxTokens = Number.POSITIVE_INFINITY;
  readonly dim: number;
  private readonly seed: number;
  private readonly depth: number;
  private readonly projections = new Map<string, Float32Array>();

  constructor(options: LexicalEncoderOptions = {}) {
    this.dim = options.dim ?? 512;
    this.seed = options.seed ?? 0;
    this.depth = options.depth ?? 4;
    this.location = `${LEXICAL_PREFIX}:dim=${this.dim},seed=${this.seed},depth=${this.depth}`;
    this.modelId = `${this.location}@v${VERSION}`;
  }

  countTokens(text: string): number {
    return wordTokens(text).length;
  }

  /**
   * Term weights of one text before projection: TF-IDF of its words, their synonyms and hypernyms.
   * In a label text ("An image of {name}. {description}") the name is what the text is about: its
   * words count twice, its synonyms once and hypernym level d 1/(d+1), `depth` levels up; words of
   * the description count once, synonyms ½ and two hypernym levels at ¼ and ⅛.
   */
  termWeights(text: string): Map<string, number> {
    const { wordnet, corpus } = wordNetCorpus();
    const raw = new Map<string, number>();
    const add = (term: string, weight: number) => raw.set(term, (raw.get(term) ?? 0) + weight);
    const body = stripTemplate(text);
    const hasName = body !== text;
    const stop = body.indexOf('.');
    const parts = hasName && stop >= 0 ? [{ text: body.slice(0, stop), name: true }, { text: body.slice(stop + 1), name: false }] : [{ text: body, name: false }];
    for (const part of parts) {
      const own = part.name ? 2 : 1;
      const synonym = part.name ? 1 : 0.5;
      const levels = part.name ? this.depth : Math.min(2, this.depth);
      const level = (d: number) => (part.name ? 1 / (d + 1) : 0.5 ** (d + 1));
      for (const token of wordTokens(part.text)) {
        const lemma = wordnet.nounLemma(token);
        add(lemma ?? token, own);
        if (lemma === null) continue;
        // The word's most frequent noun sense: its synonyms, then all its hypernyms level by level.
        const first = wordnet.nounSenses(lemma)[0];
        if (!first) continue;
        for (const w of first.words) for (const t of wordTokens(w)) if (t !== lemma) add(t, synonym);
        let up = wordnet.synset(first.synsetOffset).hypernyms;
        const seen = new Set<number>();
        for (let d = 1; d <= levels && up.length > 0; d++) {
          const next: number[] = [];
          for (const offset of up) {
            if (seen.has(offset)) continue;
            seen.add(offset);
            const synset = wordnet.synset(offset);
            for (const w of synset.words) for (const t of wordTokens(w)) add(t, level(d));
            next.push(...synset.hypernyms);
          }
          up = next;
        }
      }
    }
    const weights = new Map<string, number>();
    for (const [term, tf] of raw) {
      const idf = Math.log((corpus.documents + 1) / ((corpus.df.get(term) ?? 0) + 1)) + 1;
      weights.set(term, tf * idf);
    }
    return weights;
  }

  /** The fixed random direction of a term: Gaussian entries seeded by sha256(seed, term). */
  private projection(term: string): Float32Array {
    let v = this.projections.get(term);
    if (v) return v;
    const hash = createHash('sha256').update(`${this.seed}\0${term}`).digest();
    const normal = seededNormal(hash.readUInt32LE(0));
    v = new Float32Array(this.dim);
    for (let i = 0; i < this.dim; i++) v[i] = normal();
    this.projections.set(term, v);
    return v;
  }

  async encode(texts: string[]): Promise<{ vectors: Float32Array[]; truncated: Truncation[] }> {
    const vectors = texts.map((text) => {
      const out = new Float32Array(this.dim);
      for (const [term, weight] of this.termWeights(text)) {
        const p = this.projection(term);
        for (let i = 0; i < this.dim; i++) out[i] = (out[i] as number) + weight * (p[i] as number);
      }
      let norm = 0;
      for (const x of out) norm += x * x;
      norm = Math.sqrt(norm);
      if (!(norm > 0)) throw new LabelBankError('BAD_ARGUMENT', `the lexical encoder found no words in "${text}"`);
      for (let i = 0; i < this.dim; i++) out[i] = (out[i] as number) / norm;
      return out;
    });
    return { vectors, truncated: [] };
  }

  async dispose(): Promise<void> {
    this.projections.clear();
  }
}
