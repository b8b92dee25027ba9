import { describe, expect, it } from 'vitest';
import { accumulateConfusion, confusionMatrix, meanIoU } from '../src/metrics/iou.js';

describe('confusion matrix and mIoU', () => {
  it('counts target × prediction, skipping ignored pixels', () => {
    //            target: 0 0 1 1 2 255 2
    //        prediction: 0 1 1 1 0  2  2
    const c = confusionMatrix([0, 1, 1, 1, 0, 2, 2], [0, 0, 1, 1, 2, 255, 2], 3);
    expect(Array.from(c)).toEqual([
      1, 1, 0, // target 0: one right, one called 1
      0, 2, 0, // target 1: both right
      1, 0, 1, // target 2: one called 0, one right
    ]);
    const r = meanIoU(c);
    // IoU0 = 1 / (2 + 2 − 1) = 1/3; IoU1 = 2 / (2 + 3 − 2) = 2/3; IoU2 = 1 / (2 + 1 − 1) = 1/2.
    expect(r.iou[0]).toBeCloseTo(1 / 3, 12);
    expect(r.iou[1]).toBeCloseTo(2 / 3, 12);
    expect(r.iou[2]).toBeCloseTo(1 / 2, 12);
    expect(r.miou).toBeCloseTo((1 / 3 + 2 / 3 + 1 / 2) / 3, 12);
    expect(r.pixelAccuracy).toBeCloseTo(4 / 6, 12);
  });

  it('leaves out of the mean a class that never occurs and is never predicted, but not one that is only predicted', () => {
    // 4 classes: class 3 absent everywhere; class 2 never in the target but predicted once.
    const c = confusionMatrix([0, 0, 1, 2], [0, 0, 1, 1], 4);
    const r = meanIoU(c);
    // IoU0 = 2/2 = 1; IoU1 = 1 / (2 + 1 − 1) = 1/2; IoU2 = 0 / (0 + 1 − 0) = 0; IoU3 = none.
    expect(r.iou).toEqual([1, 0.5, 0, null]);
    expect(r.counted).toBe(3);
    expect(r.miou).toBeCloseTo(0.5, 12);
  });

  it('accumulates over images like one big image', () => {
    const a = { pred: [0, 1, 1], target: [0, 1, 0] };
    const b = { pred: [1, 1, 0, 0], target: [1, 255, 0, 1] };
    const running = new Float64Array(4);
    accumulateConfusion(running, a.pred, a.target, 2);
    accumulateConfusion(running, b.pred, b.target, 2);
    expect(Array.from(running)).toEqual(Array.from(confusionMatrix([...a.pred, ...b.pred], [...a.target, ...b.target], 2)));
  });

  it('refuses mismatched sizes and out-of-range predictions', () => {
    expect(() => confusionMatrix([0], [0, 1], 2)).toThrow(/prediction has 1 pixels, target 2/);
    expect(() => confusionMatrix([5], [0], 2)).toThrow(/predicted class 5 at pixel 0 is outside 0..1/);
  });
});
