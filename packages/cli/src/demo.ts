import {
  embedLabels,
  inspectModelFolder,
  LabelBank,
  LabelBankError,
  loadClipTextEncoder,
  writeSimilarityReport,
  writeTinyClipTextModel,
} from '@sentseg/label-bank';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DemoOptions {
  out: string;
  shared: string;
  model?: string;
}

/** ../shared beside the checkout (packages/cli/dist → repo root → its parent). */
export function defaultSharedDir(): string {
  return process.env.SENTSEG_SHARED ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared');
}

/** A real (not generated) CLIP text encoder folder under shared/models, if one exists. */
function findRealModel(modelsDir: string): string | undefined {
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

const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * The main job at this stage: a fresh label bank from the shipped descriptions, every label
 * embedded with the best text encoder available, and the similarity report.
 */
export async function runDemo(options: DemoOptions): Promise<{ report: string; modelId: string; random: boolean }> {
  const out = path.resolve(options.out);
  const modelsDir = path.join(options.shared, 'models');
  let model = options.model ?? findRealModel(modelsDir);
  let random = false;
  if (model === undefined) {
    const tokenizer = path.join(modelsDir, 'clip-tokenizer', 'tokenizer.json');
    if (!existsSync(tokenizer)) {
      throw new LabelBankError('MODEL_MISSING', `no text encoder: no real model and no CLIP tokenizer at ${tokenizer}; pass --model or --shared`);
    }
    model = path.join(out, 'tiny-clip-text');
    writeTinyClipTextModel(model, { tokenizerJson: tokenizer, seed: 0 });
    random = true;
    log(`text encoder: no real CLIP weights under ${modelsDir}; generated a random-weight CLIP-architecture`);
    log(`              text encoder with the real CLIP tokenizer at ${model} (similarities carry no meaning)`);
  } else {
    log(`text encoder: ${model}`);
  }
  const bankFile = path.join(out, 'label-bank.sqlite');
  rmSync(bankFile, { force: true });
  const bank = LabelBank.open(bankFile);
  try {
    log(`label bank: ${bankFile} (${bank.labels().length} labels, shipped descriptions)`);
    const encoder = await loadClipTextEncoder(model);
    const embedded = await embedLabels(bank, encoder);
    await encoder.dispose();
    log(`embed: ${embedded.texts} texts encoded in ${embedded.seconds.toFixed(2)} s (${embedded.labelsPerSecond.toFixed(1)} labels/s), model ${embedded.modelId}`);
    const report = writeSimilarityReport(bank, { outDir: path.join(out, 'label-report') });
    for (const kind of ['word', 'sentence'] as const) {
      const s = report.scores[kind];
      log(`block score ${kind.padEnd(8)} ${s.score.toFixed(4)}  (within ${s.within.toFixed(4)}, across ${s.across.toFixed(4)})`);
    }
    log(`report: ${report.files.html}`);
    return { report: report.files.html, modelId: report.modelId, random };
  } finally {
    bank.close();
  }
}
