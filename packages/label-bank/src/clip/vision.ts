/** The CLIP vision tower: RGB crops to L2-normalised image embeddings (the trainer's box targets of L_WD). */
import { AutoProcessor, CLIPVisionModelWithProjection, RawImage, type PreTrainedModel, type Processor } from '@huggingface/transformers';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { HubOptions } from '../encoder/hub.js';
import { LabelBankError } from '../errors.js';
import { l2Normalise, loadLocally, resolveTower, towerModelId } from './tower.js';

export interface VisionEncoder {
  modelId: string;
  /** L2-normalised image embeddings of RGB crops. */
  embed(crops: { rgb: Uint8Array; width: number; height: number }[]): Promise<Float32Array[]>;
}

/**
 * A CLIP vision tower: a local folder in transformers.js layout, or a hub id ORG/NAME[@REVISION]
 * downloaded once into the model cache and loaded from there. Ids as for the text tower (tower.ts).
 */
export async function loadClipVisionEncoder(folderOrHubId: string, hub: HubOptions = {}): Promise<VisionEncoder> {
  const source = await resolveTower(folderOrHubId, 'vision', hub);
  const { folder } = source;
  const onnx = path.join(folder, 'onnx', 'vision_model.onnx');
  if (!existsSync(onnx)) throw new LabelBankError('NOT_A_VISION_ENCODER', `not a CLIP vision tower in transformers.js layout (no onnx/vision_model.onnx): ${folder}`);
  const modelId = await towerModelId(source, onnx);
  let processor: Processor;
  let model: PreTrainedModel;
  try {
    [processor, model] = await loadLocally(async () => [
      await AutoProcessor.from_pretrained(folder, { local_files_only: true }),
      await CLIPVisionModelWithProjection.from_pretrained(folder, { local_files_only: true, dtype: 'fp32', device: 'cpu' }),
    ] as const);
  } catch (err) {
    throw new LabelBankError('NOT_A_VISION_ENCODER', `cannot load the CLIP vision tower in ${folder}: ${(err as Error).message}`, { cause: err });
  }
  return {
    modelId,
    async embed(crops) {
      if (crops.length === 0) return [];
      const images = crops.map((c) => new RawImage(new Uint8ClampedArray(c.rgb.buffer, c.rgb.byteOffset, c.rgb.byteLength), c.width, c.height, 3));
      const inputs = await processor(images);
      const out = (await model(inputs)) as { image_embeds: { data: Float32Array; dims: number[] } };
      const dim = out.image_embeds.dims[1] as number;
      return crops.map((_, i) => {
        const v = out.image_embeds.data.slice(i * dim, (i + 1) * dim);
        l2Normalise(v);
        return v;
      });
    },
  };
}
