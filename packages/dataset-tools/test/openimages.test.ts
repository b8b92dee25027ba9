import { rmSync, writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { csvFields } from '../src/formats/openimages.js';
import { detectFormat } from '../src/formats/index.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { validateManifest } from '../src/manifest/validate.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeOpenImages, type WrittenInstance } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';

const dir = tempDir();
const SIZE: [number, number] = [40, 24];
// Car, Dog, Person, Violin (a musical instrument) by their MIDs.
const MIDS = ['/m/0k4j', '/m/0bt9lr', '/m/01g317', '/m/07y_7'];
const LABEL_OF_MID: Record<string, string> = { '/m/0k4j': 'car', '/m/0bt9lr': 'dog', '/m/01g317': 'person', '/m/07y_7': 'musical instrument' };
let oi: Awaited<ReturnType<typeof writeOpenImages>>;

beforeAll(async () => {
  oi = await writeOpenImages(path.join(dir, 'oi'), { train: 5, validation: 2 }, SIZE, MIDS, 10, { '/m/0k4j': 'Car', '/m/0bt9lr': 'Dog', '/m/01g317': 'Person', '/m/07y_7': 'Violin' });
});

/** label name → pixels: each half-size mask rectangle doubled onto the image, later instances on top. */
function expectedPixels(list: WrittenInstance[]): Map<string, number> {
  const [w, h] = SIZE;
  const grid: (string | null)[] = new Array(w * h).fill(null);
  for (const inst of list) {
    for (let y = 2 * inst.rect.y0; y <= 2 * inst.rect.y1 + 1; y++) for (let x = 2 * inst.rect.x0; x <= 2 * inst.rect.x1 + 1; x++) grid[y * w + x] = LABEL_OF_MID[inst.mid] as string;
  }
  const counts = new Map<string, number>();
  for (const v of grid) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

describe('OpenImages V6 segmentation', () => {
  it('splits CSV lines with and without quotes', () => {
    expect(csvFields('a,b,,c')).toEqual(['a', 'b', '', 'c']);
    expect(csvFields('x.png,id,/m/0k4j,0.8,"0.1 0.2;0.3, 0.4"')).toEqual(['x.png', 'id', '/m/0k4j', '0.8', '0.1 0.2;0.3, 0.4']);
    expect(csvFields('"say ""hi""",2')).toEqual(['say "hi"', '2']);
  });

  it('reads the CSV and the half-size masks: instance rows, and per-label pixels of the masks scaled to the image', async () => {
    expect(detectFormat(oi.root).name).toBe('openimages');
    const out = path.join(dir, 'oi.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`oi=${oi.root}`]), { workers: 2 });
    expect(run.summaries.map((s) => [s.format, s.images, s.problems])).toEqual([['openimages', 7, 0]]);
    const reader = ManifestReader.open(out);
    try {
      expect(reader.dataset('oi')).toMatchObject({ annotation: 'instance-masks', loss: 'ld', splits: ['train', 'validation'] });
      const labelName = new Map(reader.labels().map((l) => [l.id, l.name]));
      const lut = reader.lut('oi');
      for (const sample of reader.samples('oi')) {
        const rel = path.relative(oi.root, sample.image).split(path.sep).join('/');
        const written = oi.instances.get(rel) ?? [];
        expect([sample.width, sample.height, sample.mask]).toEqual([SIZE[0], SIZE[1], null]);
        const masks = reader.instanceMasks(sample.id, 'oi');
        expect(masks.map((m) => path.relative(oi.root, m.mask).split(path.sep).join('/'))).toEqual(written.map((i) => `masks/${rel.split('/')[0]}/${i.maskPath}`));
        expect(masks.map((m) => labelName.get(lut[m.sourceId] as number))).toEqual(written.map((i) => LABEL_OF_MID[i.mid]));
        const got = new Map(reader.imageLabels(sample.id).map((r) => [labelName.get(r.labelId) as string, r.pixels]));
        expect(got, rel).toEqual(expectedPixels(written));
      }
    } finally {
      reader.close();
    }
  });

  it('reports a missing mask, a missing image, an unknown MID and a bad row, and keeps the rest', async () => {
    const root = path.join(dir, 'oi-bad');
    const bad = await writeOpenImages(root, { validation: 3 }, SIZE, MIDS, 11, { '/m/0k4j': 'Car', '/m/0bt9lr': 'Puppy' });
    const [first, second] = [...bad.instances.keys()];
    rmSync(path.join(root, first as string));
    const lost = (bad.instances.get(second as string) as WrittenInstance[])[0] as WrittenInstance;
    rmSync(path.join(root, 'masks', 'validation', lost.maskPath));
    appendFileSync(path.join(root, 'validation-annotations-object-segmentation.csv'), 'x.png,ffff,/m/notaclass,b,0,1,0,1,0.5,\n,,,\n');
    const out = path.join(dir, 'oi-bad.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`bad=${root}`], ['bad=openimages']), { workers: 0 });
    expect(run.summaries[0]?.images).toBe(2);
    const reader = ManifestReader.open(out);
    try {
      const problems = reader.problems().map(({ file, reason }) => ({ file, reason }));
      expect(problems).toEqual(
        expect.arrayContaining([
          { file: 'validation-annotations-object-segmentation.csv', reason: '1 rows without MaskPath, ImageID or LabelName, skipped' },
          { file: 'validation-annotations-object-segmentation.csv', reason: 'class /m/notaclass is not in the openimages taxonomy; its 1 masks are skipped' },
          { file: first, reason: 'image missing' },
          { file: lost.maskPath, reason: expect.stringMatching(/^mask of \w+ missing \(looked in masks\/validation, /) },
          { file: 'class-descriptions-boxable.csv', reason: 'class /m/0bt9lr is "Puppy" here and "Dog" in the openimages taxonomy (taken by MID)' },
        ]),
      );
      expect(problems).toHaveLength(5);
    } finally {
      reader.close();
    }
    writeFileSync(path.join(root, 'validation-annotations-object-segmentation.csv'), 'ImageID,Foo\n1,2\n');
    await expect(mergeDatasets(path.join(dir, 'never.sqlite'), parseDatasetSpecs([`bad=${root}`], ['bad=openimages']), { workers: 0 })).rejects.toThrow(/no usable images in openimages dataset "bad" .*\(2 problems; the first: class-descriptions-boxable\.csv: class \/m\/0bt9lr is "Puppy" here/);
  });
  it('manifest validate names an instance mask that went missing after the merge', async () => {
    const out = path.join(dir, 'oi.sqlite');
    const reader = ManifestReader.open(out);
    try {
      expect((await validateManifest(reader)).problems).toEqual([]);
      const [sample] = [...reader.samples('oi')];
      const [mask] = reader.instanceMasks(sample?.id as number, 'oi');
      rmSync(mask?.mask as string);
      expect((await validateManifest(reader)).problems).toEqual([{ dataset: 'oi', file: mask?.mask, reason: 'instance mask missing' }]);
    } finally {
      reader.close();
    }
  });
});
