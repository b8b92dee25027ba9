/** The two texts the paper encodes for a label. */
export type TextKind = 'sentence' | 'word';

/** "An image of {name}." — the word-only form. */
export function wordOnlyText(name: string): string {
  return `An image of ${name}.`;
}

/** "An image of {name}. {definition}" — the sentence form. */
export function sentenceText(name: string, definition: string): string {
  return `${wordOnlyText(name)} ${definition.trim()}`;
}

// Abbreviations after which a full stop does not end a sentence.
const ABBREVIATIONS = new Set([
  'e.g', 'i.e', 'etc', 'vs', 'approx', 'ca', 'cf', 'st', 'mr', 'mrs', 'ms', 'dr', 'prof', 'no', 'fig', 'inc', 'ltd', 'co', 'jr', 'sr', 'mt', 'u.s', 'u.k',
]);

/** Drops parentheses (pronunciations, etymologies, alternative names) and squeezes spaces. */
export function stripParentheticals(text: string): string {
  let out = '';
  let depth = 0;
  for (const ch of text) {
    if (ch === '(') depth += 1;
    else if (ch === ')' && depth > 0) depth -= 1;
    else if (depth === 0) out += ch;
  }
  return out.replace(/\s+([,.;:])/g, '$1').replace(/\s{2,}/g, ' ').trim();
}

/**
 * The first sentence of an article lead: parentheticals removed, cut at the first full stop that
 * ends a sentence (not an abbreviation, an initial or a decimal point). Returns '' for empty text.
 */
export function firstSentence(lead: string): string {
  const text = stripParentheticals(lead.replace(/\s+/g, ' '));
  const re = /[.!?](?=\s+["'“(]?[A-Z0-9]|\s*$)/g;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    const before = text.slice(0, match.index);
    const word = (before.match(/(\S+)$/)?.[1] ?? '').toLowerCase().replace(/^[("'“]+/, '');
    if (ABBREVIATIONS.has(word) || /^[a-z]$/i.test(word)) continue;
    return text.slice(0, match.index + 1).trim();
  }
  return text.trim();
}
