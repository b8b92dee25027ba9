/**
 * The demo's label bank: the 238 shipped labels plus every class name of the synthetic world,
 * all world names described from WordNet 3.1 (one source for all of them, offline), embedded with
 * the best CLIP text tower available, with the lexical baseline, and one-hot for each training
 * manifest of the experiment.
 */
import { ManifestReader } from '@sentseg/dataset-tools';
import { CONCEPT_GROUPS, WORLD_DATASETS } from '@sentseg/dataset-tools/testing';
import {
  embedLabels,
  glossSentence,
  inspectModelFolder,
  LabelBank,
  LabelBankError,
  LexicalEncoder,
  loadClipTextEncoder,
  OneHotEncoder,
  refreshFromWordNet,
  sentenceText,
  WordNet,
  wordNetCandidates,
  wordOnlyText,
  writeTinyClipTextModel,
  type LabelRow,
  type SentenceEncoder,
} from '@sentseg/label-bank';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

/** A real (not generated) CLIP text encoder folder under shared/models, if one exists. */
export function findRealClip(modelsDir: string): string | undefined {
  if (!existsSync(modelsDir)) return undefined;
  for (const entry of readdirSync(modelsDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const folder = path.join(modelsDir, entry.name);
    try {
      const { config } = inspectModelFolder(folder);
      if (!(config.sentseg as { random_weights?: boolean } | undefined)?.random_weights) return folder;
    } catch {
      // not a text encoder: keep looking
    }
  }
  return undefined;
}

export interface ClipChoice {
  folder: string;
  /** A generated random-weight model (no meaning in its similarities). */
  random: boolean;
  why: string;
}

/** The best CLIP text tower: --model, else a real one under shared/models, else a generated one. */
export function chooseClip(out: string, shared: string, model: string | undefined): ClipChoice {
  if (model) return { folder: model, random: false, why: 'given with --model' };
  const modelsDir = path.join(shared, 'models');
  const real = findRealClip(modelsDir);
  if (real) return { folder: real, random: false, why: `found under ${modelsDir}` };
  const tokenizer = path.join(modelsDir, 'clip-tokenizer', 'tokenizer.json');
  if (!existsSync(tokenizer)) {
    throw new LabelBankError('MODEL_MISSING', `no text encoder: no real CLIP under ${modelsDir} and no CLIP tokenizer at ${tokenizer}; pass --model or --shared`);
  }
  const folder = path.join(out, 'tiny-clip-text');
  writeTinyClipTextModel(folder, { tokenizerJson: tokenizer, seed: 0 });
  return { folder, random: true, why: `no real CLIP weights under ${modelsDir}: generated a random-weight CLIP-architecture text tower with the real CLIP tokenizer` };
}

export interface WorldLabel {
  name: string;
  group: string;
  description: string;
  /** Label of manifests/labels.json (true) or added for the world (false). */
  shipped: boolean;
}

/**
 * Adds the world's class names to the bank and gives every one of them its WordNet description
 * ("An image of {name}. {gloss of the first noun sense that fits its group}"); the shipped text of
 * a shipped label stays in the bank as another source.
 */
export function addWorldLabels(bank: LabelBank, wordnet = new WordNet()): WorldLabel[] {
  const groups = new Map<string, string>();
  for (const d of WORLD_DATASETS) for (const c of d.classes) groups.set(c.name, CONCEPT_GROUPS[c.concept]);
  const shipped = new Set(bank.labels().map((l) => l.name));
  bank.atomically(() => {
    for (const [name, group] of groups) {
      if (shipped.has(name)) continue;
      const sense = wordnet.senseForLabel(wordNetCandidates(name, null), group);
      const description = sense ? sentenceText(name, glossSentence(sense.definition)) : wordOnlyText(name);
      bank.addLabel({ name, group, description, source: sense ? 'wordnet' : 'manual' });
    }
  });
  refreshFromWordNet(bank, wordnet, { labels: [...groups.keys()].filter((n) => shipped.has(n)) });
  return [...groups].map(([name, group]) => ({ name, group, description: bank.requireLabel(name).description, shipped: shipped.has(name) }));
}

/** Embeds every label of the bank (sentence and word texts) with one encoder. */
export async function embedAll(bank: LabelBank, encoder: SentenceEncoder): Promise<{ modelId: string; texts: number; encoded: number; seconds: number }> {
  const r = await embedLabels(bank, encoder);
  return { modelId: r.modelId, texts: r.texts, encoded: r.encoded, seconds: r.seconds };
}

export async function embedWithClip(bank: LabelBank, folder: string): Promise<{ modelId: string; texts: number; encoded: number; seconds: number }> {
  const encoder = await loadClipTextEncoder(folder);
  try {
    return await embedAll(bank, encoder);
  } finally {
    await encoder.dispose();
  }
}

export async function embedWithLexical(bank: LabelBank, dim: number): Promise<{ modelId: string; texts: number; encoded: number; seconds: number }> {
  return embedAll(bank, new LexicalEncoder({ dim }));
}

/**
 * One-hot embeddings for a training manifest: one dimension per manifest label (its word text),
 * stored in the bank under their own model id. Labels outside the manifest get none.
 */
export async function embedOneHot(bank: LabelBank, manifest: string): Promise<{ modelId: string; dim: number }> {
  const reader = ManifestReader.open(manifest);
  let names: string[];
  try {
    names = reader.labels().map((l) => l.name);
  } finally {
    reader.close();
  }
  const rows: LabelRow[] = names.map((n) => bank.requireLabel(n));
  const encoder = new OneHotEncoder(rows.map((r) => wordOnlyText(r.name)));
  await embedLabels(bank, encoder, { labels: rows, kinds: ['word'] });
  return { modelId: encoder.modelId, dim: encoder.dim };
}
