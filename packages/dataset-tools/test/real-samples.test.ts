import { cpSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { detectSunVariant } from '../src/formats/sun-rgbd.js';
import { ManifestReader } from '../src/manifest/reader.js';
import { mergeDatasets, parseDatasetSpecs } from '../src/merge.js';
import { writeGrayPng, writeImage } from '../src/testing/index.js';
import { tempDir } from '../../../tests/utils.js';
import { expectedLabels, SAMPLES, taxonomyTable } from '../../../tests/manifest-helpers.js';

const HAS_SAMPLES = existsSync(SAMPLES);
if (!HAS_SAMPLES) console.warn(`[sentseg tests] ${SAMPLES} is absent: the real-sample tests are skipped`);

/** Value counts of a real 8-bit mask, decoded here independently of the merge code. */
function counts(file: string): Map<number, number> {
  const png = PNG.sync.read(readFileSync(file));
  const out = new Map<number, number>();
  for (let i = 0; i < png.data.length; i += 4) out.set(png.data[i] as number, (out.get(png.data[i] as number) ?? 0) + 1);
  return out;
}

/** [label id, pixels] of one image as the manifest has them. */
const labelPixels = (reader: ManifestReader, id: number) => reader.imageLabels(id).map((r) => [r.labelId, r.pixels]);

describe.runIf(HAS_SAMPLES)('real sample files from mseg-api', () => {
  const dir = tempDir();
  const ade = path.join(SAMPLES, 'ADE20K_test_data', 'ADEChallengeData2016');
  const sun = path.join(SAMPLES, 'SUNRGBD_test_data');
  const coco = path.join(SAMPLES, 'COCOPanoptic_test_data');

  it('ADE20K and SUN RGB-D (MSeg variant, detected): sizes and label pixel counts', async () => {
    const out = path.join(dir, 'real.sqlite');
    const run = await mergeDatasets(out, parseDatasetSpecs([`ade20k=${ade}`, `sun=${sun}`]), { workers: 1 });
    expect(run.summaries.map((s) => [s.dataset, s.format, s.images, s.problems])).toEqual([
      ['ade20k', 'ade20k', 1, 0],
      ['sun', 'sun-rgbd', 1, 0],
    ]);
    const reader = ManifestReader.open(out);
    expect(reader.dataset('sun')).toMatchObject({ variant: 'mseg', ignoreValues: [255] });
    const a = reader.samples('ade20k').next().value!;
    expect([a.width, a.height]).toEqual([683, 512]);
    expect(labelPixels(reader, a.id)).toEqual(
      expectedLabels(counts(path.join(ade, 'annotations', 'training', 'ADE_train_00000001.png')), taxonomyTable('ade20k')),
    );
    const s = [...reader.samples('sun')][0]!;
    expect([s.width, s.height]).toEqual([730, 530]);
    expect(labelPixels(reader, s.id)).toEqual(
      expectedLabels(counts(path.join(sun, 'semseg-label37', 'train', '00000001.png')), taxonomyTable('sun-rgbd')),
    );
    reader.close();
  });

  it('SUN RGB-D official variant (1..37, 0 unlabeled) is detected and shifted', async () => {
    const root = path.join(dir, 'sun-official');
    cpSync(sun, root, { recursive: true });
    const mseg = PNG.sync.read(readFileSync(path.join(sun, 'semseg-label37', 'train', '00000001.png')));
    const shifted = new Uint8Array(mseg.width * mseg.height);
    for (let p = 0; p < shifted.length; p++) {
      const v = mseg.data[p * 4] as number;
      shifted[p] = v === 255 ? 0 : v + 1;
    }
    writeGrayPng(path.join(root, 'semseg-label37', 'train', '00000001.png'), mseg.width, mseg.height, shifted);
    expect(detectSunVariant([path.join(root, 'semseg-label37', 'train', '00000001.png')])).toBe('official');
    const out = path.join(dir, 'official.sqlite');
    await mergeDatasets(out, parseDatasetSpecs([`sun=${root}`]));
    const reader = ManifestReader.open(out);
    expect(reader.dataset('sun').variant).toBe('official');
    const s = reader.samples('sun').next().value!;
    // Same labels and pixel counts as the MSeg encoding of the same map.
    expect(labelPixels(reader, s.id)).toEqual(
      expectedLabels(counts(path.join(sun, 'semseg-label37', 'train', '00000001.png')), taxonomyTable('sun-rgbd')),
    );
    reader.close();
  });

  it('COCO panoptic: segments_info areas match the decoded segments', async () => {
    const root = path.join(dir, 'coco');
    cpSync(coco, root, { recursive: true });
    // The sample ships without its photo: a stand-in of the right size lets the mask be read.
    await writeImage(path.join(root, 'train2017', '000000000009.jpg'), 640, 480, 0);
    const out = path.join(dir, 'coco.sqlite');
    await mergeDatasets(out, parseDatasetSpecs([`coco=${root}`]));
    const reader = ManifestReader.open(out);
    const s = reader.samples('coco').next().value!;
    const json = JSON.parse(readFileSync(path.join(coco, 'annotations', 'panoptic_train2017.json'), 'utf8')) as {
      annotations: { segments_info: { category_id: number; area: number }[] }[];
    };
    const table = taxonomyTable('coco-panoptic');
    const byLabel = new Map<number, number>();
    for (const seg of json.annotations[0]!.segments_info) {
      const label = table.get(seg.category_id);
      if (label != null) byLabel.set(label, (byLabel.get(label) ?? 0) + seg.area);
    }
    expect(labelPixels(reader, s.id)).toEqual([...byLabel].sort((x, y) => x[0] - y[0]));
    expect(reader.segments(s.id).size).toBe(json.annotations[0]!.segments_info.length);
    reader.close();
  });

  it('the COCO sample without its photo is a problems row, and the dataset is refused', async () => {
    await expect(mergeDatasets(path.join(dir, 'nophoto.sqlite'), parseDatasetSpecs([`coco=${coco}`]))).rejects.toThrow(/no usable images in coco-panoptic dataset "coco" .*\(1 problem; the first: train2017\/000000000009\.jpg: image missing\)/);
  });
});
