import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../src/errors.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { validateManifest } from '../src/manifest/validate.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { renderScene, SCENE_CONCEPTS, writeSceneWorld, type WrittenWorld } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir();
let world: WrittenWorld;

beforeAll(async () => {
  world = await writeSceneWorld(path.join(dir, 'world'), { seed: 5, scale: 0.1 });
});

const specsOf = (w: WrittenWorld, names: string[]) =>
  parseDatasetSpecs(
    w.datasets.filter((d) => names.includes(d.spec.name)).map((d) => `${d.spec.name}=${d.root}`),
    w.datasets.filter((d) => names.includes(d.spec.name)).map((d) => `${d.spec.name}=${d.spec.format}`),
    [],
    w.datasets.filter((d) => names.includes(d.spec.name) && d.taxonomyFile).map((d) => `${d.spec.name}=${d.taxonomyFile}`),
  );

describe('the synthetic scene world', () => {
  it('renders the same scene from the same seed, a different one from another, with every concept drawn somewhere', () => {
    const a = renderScene(96, 64, 11);
    const b = renderScene(96, 64, 11);
    const c = renderScene(96, 64, 12);
    expect(Buffer.from(a.rgb).equals(Buffer.from(b.rgb))).toBe(true);
    expect(Buffer.from(a.concept).equals(Buffer.from(b.concept))).toBe(true);
    expect(Buffer.from(a.rgb).equals(Buffer.from(c.rgb))).toBe(false);
    const seen = new Set<number>();
    for (let s = 0; s < 20; s++) for (const v of renderScene(96, 64, s).concept) seen.add(v);
    expect([...seen].sort().map((i) => SCENE_CONCEPTS[i])).toEqual([...SCENE_CONCEPTS]);
  });

  it('merges four layouts whose own class names become labels, with pixel counts equal to the rendered concepts', async () => {
    const out = path.join(dir, 'world.sqlite');
    const run = await mergeDatasets(out, specsOf(world, ['city', 'ade', 'coco', 'heldout']), { workers: 0, keepUnmapped: true });
    expect(run.summaries.map((s) => [s.dataset, s.format, s.problems])).toEqual([
      ['city', 'cityscapes', 0],
      ['ade', 'ade20k', 0],
      ['coco', 'coco-panoptic', 0],
      ['heldout', 'generic', 0],
    ]);
    const reader = ManifestReader.open(out);
    try {
      const labelName = new Map(reader.labels().map((l) => [l.id, l.name]));
      for (const d of world.datasets) {
        const classOf = new Map(d.spec.classes.map((c) => [c.concept, c.name]));
        for (const sample of reader.samples(d.spec.name)) {
          const rel = path.relative(d.root, sample.image).split(path.sep).join('/');
          const expected = new Map<string, number>();
          for (const [concept, pixels] of d.conceptPixels.get(rel) ?? new Map()) {
            const name = classOf.get(concept);
            if (name !== undefined) expected.set(name, (expected.get(name) ?? 0) + pixels);
          }
          const got = new Map(reader.imageLabels(sample.id).map((r) => [labelName.get(r.labelId) as string, r.pixels]));
          expect(got, `${d.spec.name} ${rel}`).toEqual(expected);
        }
      }
      // Same names meet in one label; different names stay apart (naive name matching, no relabeling).
      const datasetsOf = (name: string) =>
        reader
          .datasets()
          .filter((d) => [...reader.lut(d.name)].includes(reader.labels().find((l) => l.name === name)?.id ?? -2))
          .map((d) => d.name);
      expect(datasetsOf('car')).toEqual(['city', 'coco']);
      expect(datasetsOf('automobile')).toEqual(['ade', 'heldout']);
      expect(datasetsOf('lawn')).toEqual(['heldout']);
      expect(datasetsOf('sky-other-merged')).toEqual(['coco']);
      expect((await validateManifest(reader)).problems).toEqual([]);
    } finally {
      reader.close();
    }
  });

  it('without --keep-unmapped the world datasets contribute no labels of their own', async () => {
    const out = path.join(dir, 'unkept.sqlite');
    await mergeDatasets(out, specsOf(world, ['ade']), { workers: 0 });
    const reader = ManifestReader.open(out);
    try {
      expect(reader.labels().filter((l) => l.origin !== 'labels.json')).toEqual([]);
      expect(new Set(reader.lut('ade'))).toEqual(new Set([255]));
    } finally {
      reader.close();
    }
  });

  it('refuses a taxonomy file that is not JSON, has no classes, or maps to an unknown label, naming the file', async () => {
    const ade = world.datasets.find((d) => d.spec.name === 'ade');
    if (!ade) throw new Error('no ade');
    const bad = path.join(dir, 'bad-taxonomy.json');
    const run = (content: string) => {
      writeFileSync(bad, content);
      return mergeDatasets(path.join(dir, 'never.sqlite'), parseDatasetSpecs([`ade=${ade.root}`], ['ade=ade20k'], [], [`ade=${bad}`]), { workers: 0 });
    };
    await expect(run('{ not json')).rejects.toThrow(/cannot read taxonomy .*bad-taxonomy\.json/);
    await expect(run('{"dataset":"ade"}')).rejects.toThrow(/no "classes" list: .*bad-taxonomy\.json/);
    const mislabelled = JSON.parse(readFileSync(ade.taxonomyFile as string, 'utf8')) as { classes: { label: string }[] };
    (mislabelled.classes[1] as { label: string }).label = 'automobil';
    await expect(run(JSON.stringify(mislabelled))).rejects.toThrow(DatasetError);
    await expect(run(JSON.stringify(mislabelled))).rejects.toThrow(/maps to "automobil", which is not a label/);
    expect(() => parseDatasetSpecs([`ade=${ade.root}`], [], [], ['other=x.json'])).toThrow(/--taxonomy name "other" has no --dataset/);
  });
});
