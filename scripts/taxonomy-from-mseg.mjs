// Builds manifests/taxonomy/<dataset>.json from MSeg's taxonomy tables (../shared/datasets/
// taxonomy-reference, the facts the issue points to). Run once by a developer; the JSON files are
// committed and then curated by hand. Usage: node scripts/taxonomy-from-mseg.mjs [shared dir]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const shared = process.argv[2] ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
const ref = path.join(shared, 'datasets', 'taxonomy-reference');
const labels = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '..', 'manifests', 'labels.json'), 'utf8')).labels.map((l) => l.name);
const lines = (f) => readFileSync(path.join(ref, f), 'utf8').split('\n').map((s) => s.trim()).filter((s, i, a) => s !== '' || i < a.length - 1);
const rows = readFileSync(path.join(ref, 'MSeg_master.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
const header = rows[0];
const universalCol = header.indexOf('universal');

/** source class name → universal label, for one MSeg column */
function columnMap(column) {
  const col = header.indexOf(column);
  if (col < 0) throw new Error(`no column ${column}`);
  const map = new Map();
  for (const row of rows.slice(1)) {
    const cell = (row[col] ?? '').trim();
    if (cell === '') continue;
    const universal = row[universalCol].trim().replace(/_/g, ' ');
    const label = universal === 'unlabeled' ? 'ignore' : universal;
    if (label !== 'ignore' && !labels.includes(label)) throw new Error(`universal ${label} is not a label`);
    for (const name of cell.replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter(Boolean)) {
      const key = name.toLowerCase();
      if (map.has(key) && map.get(key) !== label) console.warn(`${column}: "${name}" is split by MSeg between ${map.get(key)} and ${label}`);
      map.set(key, label);
    }
  }
  return map;
}

// Where sentseg departs from MSeg: MSeg drops ambiguous classes (ignore); with sentences they keep
// their meaning (unmapped: a new label under --keep-unmapped), and Mapillary's ground animal is an animal.
const OVERRIDES = {
  ade20k: { plant: 'unmapped', signboard: 'unmapped', computer: 'unmapped', bar: 'unmapped', canopy: 'unmapped', step: 'unmapped', screen: 'unmapped', 'crt screen': 'unmapped', monitor: 'unmapped' },
  // Cityscapes riders are cyclists and motorcyclists alike: MSeg relabels them, the raw class is "rider other".
  cityscapes: { rider: 'rider other' },
  'mapillary-vistas': { 'ground animal': 'animal other', 'catch basin': 'unmapped', manhole: 'unmapped', 'other vehicle': 'unmapped' },
};

function build(dataset, description, classes, column, ignoreNames, extra = {}) {
  const map = columnMap(column);
  for (const [name, label] of Object.entries(OVERRIDES[dataset] ?? {})) map.set(name, label);
  const used = new Set();
  const out = classes.map(({ id, name }) => {
    const key = name.toLowerCase();
    let label = map.get(key);
    if (label) used.add(key);
    else label = ignoreNames.includes(key) ? 'ignore' : 'unmapped';
    return { id, name, label };
  });
  const unused = [...map.keys()].filter((k) => !used.has(k));
  if (unused.length) console.warn(`${dataset}: MSeg names not matched: ${unused.join(', ')}`);
  const file = path.resolve(import.meta.dirname, '..', 'manifests', 'taxonomy', `${dataset}.json`);
  writeFileSync(file, `${JSON.stringify({ dataset, description, ...extra, classes: out }, null, 2)}\n`);
  const counts = out.reduce((m, c) => ((m[c.label === 'ignore' || c.label === 'unmapped' ? c.label : 'mapped'] = (m[c.label === 'ignore' || c.label === 'unmapped' ? c.label : 'mapped'] ?? 0) + 1), m), {});
  console.log(dataset, out.length, JSON.stringify(counts));
}

const indexed = (names, offset = 0) => names.map((name, i) => ({ id: i + offset, name }));

build('ade20k', 'ADE20K SceneParsing (ADEChallengeData2016): annotation PNG value = class id, 0 = other (ignored)',
  indexed(lines('ade20k-151_names.txt')).slice(1), 'ade20k-150', [], { ignoreValues: [0] });
const coco = JSON.parse(readFileSync(path.join(shared, 'datasets', 'mseg-api-samples', 'coco_panoptic_categories.json'), 'utf8'));
build('coco-panoptic', 'COCO Panoptic 2017: category ids of segments_info (133 categories); unlabelled pixels have segment id 0',
  coco.map((c) => ({ id: c.id, name: c.name })), 'coco-panoptic-133', []);
build('cityscapes', 'Cityscapes gtFine *_labelIds.png: the 34 labelIds; the 19 train classes map to labels, the rest are ignored as in the official trainId table',
  indexed(lines('cityscapes-34_names.txt')), 'cityscapes-19',
  ['unlabeled', 'ego vehicle', 'rectification border', 'out of roi', 'static', 'dynamic', 'ground', 'parking', 'rail track', 'guard rail', 'bridge', 'tunnel', 'polegroup', 'caravan', 'trailer'],
  { ignoreValues: [255] });
build('bdd100k', 'BDD100K sem_seg label PNGs: train ids 0..18, 255 = ignore', indexed(lines('bdd_names.txt')), 'bdd', [], { ignoreValues: [255] });
build('sun-rgbd', 'SUN RGB-D 37-class label maps, MSeg variant: 0..36, 255 = unlabeled (the official toolbox variant is 1..37 with 0 = unlabeled)',
  indexed(lines('sunrgbd-37_names.txt')), 'sunrgbd-37', [], { ignoreValues: [255] });
build('mapillary-vistas', 'Mapillary Vistas v1.2 (config.json label order = PNG value; 65 = unlabeled)',
  indexed(lines('mapillary-public66_names.txt')), 'mapillary-public65', ['unlabeled']);
