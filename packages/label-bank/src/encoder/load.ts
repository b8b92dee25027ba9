import { LabelBankError } from '../errors.js';
import { loadClipTextEncoder, type LoadEncoderOptions } from '../clip/text.js';
import type { SentenceEncoder } from './sentence-encoder.js';
import { LexicalEncoder, parseLexicalSpec } from './lexical.js';
import { loadableName } from '../store/encoder-names.js';

/**
 * A text encoder by name: `lexical[:dim=…,seed=…,depth=…]` is the built-in lexical baseline;
 * anything else is a CLIP text tower (local folder in transformers.js layout, or a hub id).
 * A bank's model location (ModelRow.location) is always a valid name here.
 */
export async function loadTextEncoder(model: string, options: LoadEncoderOptions = {}): Promise<SentenceEncoder> {
  const lexical = parseLexicalSpec(loadableName(model));
  if (lexical) return new LexicalEncoder(lexical);
  if (model.startsWith('local:')) {
    throw new LabelBankError('BAD_ARGUMENT', `${model} is the id of a folder encoder, and no bank given names its folder: pass the folder (or --bank the bank that holds it)`);
  }
  if (model.startsWith('import:')) {
    throw new LabelBankError('BAD_ARGUMENT', `${model} holds vectors imported with label-bank import: it cannot encode new texts (embed or add with the model that made them, or import again)`);
  }
  if (model.startsWith('onehot:')) throw new LabelBankError('BAD_ARGUMENT', `a one-hot encoder (${model}) can only embed the labels it was built with; it cannot encode new texts`);
  return loadClipTextEncoder(loadableName(model), options);
}
