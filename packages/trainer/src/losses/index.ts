export { cosineLogits, pixelLosses } from './cosine.js';
export { lossHD } from './hd.js';
export { lossLD, lowLossMask, LD_DROP_FRACTION } from './ld.js';
export { lossWD, roiPoolWeights, type MapBox } from './wd.js';
export { LOSSES, LOSS_NAMES, isLossName, chooseLosses, batchLosses, type LossSpec, type LossSlice, type LossSlices, type LossContext, type LossParts } from './table.js';
