import { describe, expect, it } from 'vitest';
import { firstSentence, sentenceText, stripParentheticals, wordOnlyText } from '../src/text.js';

describe('label texts', () => {
  it('builds the paper\'s two text forms', () => {
    expect(wordOnlyText('bus')).toBe('An image of bus.');
    expect(sentenceText('bus', ' A bus is a road vehicle designed to carry many passengers. ')).toBe(
      'An image of bus. A bus is a road vehicle designed to carry many passengers.',
    );
  });
});

describe('firstSentence', () => {
  it('drops parentheticals and keeps the first sentence of a lead', () => {
    const lead =
      'The dog (Canis familiaris or Canis lupus familiaris) is a domesticated descendant of the gray wolf. Also called the domestic dog, it was selectively bred from a population of wolves.';
    expect(firstSentence(lead)).toBe('The dog is a domesticated descendant of the gray wolf.');
  });

  it('does not stop at abbreviations, initials or decimals', () => {
    expect(firstSentence('A pier is a raised structure, e.g. a walkway, over water. Piers are old.')).toBe(
      'A pier is a raised structure, e.g. a walkway, over water.',
    );
    expect(firstSentence('The Gateway Arch in St. Louis is 192.0 m tall. It was built in 1965.')).toBe(
      'The Gateway Arch in St. Louis is 192.0 m tall.',
    );
    expect(firstSentence('J. R. R. Tolkien wrote books. He was English.')).toBe('J. R. R. Tolkien wrote books.');
  });

  it('returns the whole text when there is no sentence end, and "" for nothing', () => {
    expect(firstSentence('A lead without a full stop')).toBe('A lead without a full stop');
    expect(firstSentence('   ')).toBe('');
  });

  it('handles nested parentheses and spaces they leave behind', () => {
    expect(stripParentheticals('A cat (Felis catus (domestic)) , a small mammal .')).toBe('A cat, a small mammal.');
  });
});
