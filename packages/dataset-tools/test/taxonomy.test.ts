import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLabelNames, readTaxonomy } from '../src/taxonomy.js';
import { MANIFESTS } from '../../../tests/utils.js';

const dir = path.join(MANIFESTS, 'taxonomy');
const labels = readLabelNames();

describe('manifests/taxonomy', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it.each(files)('%s: every class resolves to a label of labels.json, ignore or unmapped', (file) => {
    const raw = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { classes: { id: number; name: string; label: string }[] };
    const misspelt = raw.classes.filter((c) => c.label !== 'ignore' && c.label !== 'unmapped' && !labels.includes(c.label));
    expect(misspelt).toEqual([]);
    expect(new Set(raw.classes.map((c) => c.id)).size).toBe(raw.classes.length);
    expect(() => readTaxonomy(file.replace(/\.json$/, ''), labels)).not.toThrow();
  });

  it('has the published class counts', () => {
    const count = (name: string) => readTaxonomy(name, labels).classes.length;
    const mapped = (name: string) => readTaxonomy(name, labels).classes.filter((c) => c.target.kind === 'label').length;
    expect(count('ade20k')).toBe(150);
    expect(count('coco-panoptic')).toBe(133);
    expect(count('cityscapes')).toBe(34);
    expect(mapped('cityscapes')).toBe(19);
    expect(count('bdd100k')).toBe(19);
    expect(count('sun-rgbd')).toBe(37);
    expect(count('mapillary-vistas')).toBe(66);
    expect(count('mapillary-vistas-v2')).toBe(124);
    expect(count('idd')).toBe(26);
    expect(count('objects365')).toBe(365);
    // The 601 boxable classes: a superset of the 350 that have segmentation masks.
    expect(count('openimages')).toBe(601);
  });

  it('maps classes by meaning, not by position', () => {
    const find = (name: string, cls: string) => readTaxonomy(name, labels).classes.find((c) => c.name === cls)?.target;
    expect(find('ade20k', 'car')).toEqual({ kind: 'label', label: 'car' });
    expect(find('cityscapes', 'rider')).toEqual({ kind: 'label', label: 'rider other' });
    expect(find('cityscapes', 'ego vehicle')).toEqual({ kind: 'ignore' });
    expect(find('idd', 'curb')).toEqual({ kind: 'label', label: 'sidewalk pavement' });
    expect(find('idd', 'drivable fallback')).toEqual({ kind: 'label', label: 'road' });
    expect(find('idd', 'vehicle fallback')).toEqual({ kind: 'unmapped' });
    expect(find('objects365', 'SUV')).toEqual({ kind: 'label', label: 'car' });
    expect(find('objects365', 'Moniter/TV')).toEqual({ kind: 'label', label: 'television' });
    expect(find('objects365', 'Sneakers')).toEqual({ kind: 'unmapped' });
    // OpenImages' "Mouse" is the animal, not the computer mouse.
    expect(find('openimages', 'Mouse')).toEqual({ kind: 'label', label: 'animal other' });
    expect(find('openimages', 'Computer mouse')).toEqual({ kind: 'label', label: 'mouse' });
    expect(readTaxonomy('openimages', labels).classes.find((c) => c.code === '/m/0k4j')?.target).toEqual({ kind: 'label', label: 'car' });
    expect(find('coco-panoptic', 'building-other-merged')).toEqual({ kind: 'label', label: 'building' });
    expect(find('mapillary-vistas', 'Ground Animal')).toEqual({ kind: 'label', label: 'animal other' });
    expect(find('ade20k', 'computer')).toEqual({ kind: 'unmapped' });
  });

  it('refuses a taxonomy that names a label that does not exist', () => {
    expect(() => readTaxonomy('ade20k', labels.filter((l) => l !== 'car'))).toThrow(/maps to "car", which is not a label of labels\.json: .*ade20k\.json/);
  });
});
