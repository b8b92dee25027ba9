/**
 * Segmentation metrics as pure functions. The confusion matrix has one row per target class and
 * one column per predicted class; pixels whose target is the ignore index (or outside the classes)
 * are not counted.
 */

/** numClasses × numClasses counts, row = target, column = prediction (row-major Float64Array). */
export function confusionMatrix(pred: ArrayLike<number>, target: ArrayLike<number>, numClasses: number, ignoreIndex = 255): Float64Array {
  if (pred.length !== target.length) throw new Error(`prediction has ${pred.length} pixels, target ${target.length}`);
  const confusion = new Float64Array(numClasses * numClasses);
  accumulateConfusion(confusion, pred, target, numClasses, ignoreIndex);
  return confusion;
}

/** Adds one image's counts to a running confusion matrix. */
export function accumulateConfusion(confusion: Float64Array, pred: ArrayLike<number>, target: ArrayLike<number>, numClasses: number, ignoreIndex = 255): void {
  for (let i = 0; i < target.length; i++) {
    const t = target[i] as number;
    if (t === ignoreIndex || t < 0 || t >= numClasses) continue;
    const p = pred[i] as number;
    if (p < 0 || p >= numClasses) throw new Error(`predicted class ${p} at pixel ${i} is outside 0..${numClasses - 1}`);
    confusion[t * numClasses + p] = (confusion[t * numClasses + p] as number) + 1;
  }
}

export interface IoUReport {
  /** Mean over the classes that occur in the target or in the prediction. */
  miou: number;
  /** Per class: TP / (TP + FP + FN); null for a class that never occurs in the target and is never predicted. */
  iou: (number | null)[];
  /** Correct pixels / counted pixels. */
  pixelAccuracy: number;
  /** Classes that take part in the mean. */
  counted: number;
}

/**
 * IoU per class and their mean from a confusion matrix. A class that never occurs in the target
 * and is never predicted has no IoU (0/0) and is left out of the mean.
 */
export function meanIoU(confusion: Float64Array): IoUReport {
  const k = Math.round(Math.sqrt(confusion.length));
  if (k * k !== confusion.length) throw new Error(`a confusion matrix is square; got ${confusion.length} cells`);
  const iou: (number | null)[] = [];
  let sum = 0;
  let counted = 0;
  let correct = 0;
  let total = 0;
  for (let c = 0; c < k; c++) {
    let row = 0;
    let col = 0;
    for (let j = 0; j < k; j++) {
      row += confusion[c * k + j] as number;
      col += confusion[j * k + c] as number;
    }
    const tp = confusion[c * k + c] as number;
    correct += tp;
    total += row;
    const union = row + col - tp;
    if (union === 0) {
      iou.push(null);
      continue;
    }
    iou.push(tp / union);
    sum += tp / union;
    counted += 1;
  }
  return { miou: counted > 0 ? sum / counted : 0, iou, pixelAccuracy: total > 0 ? correct / total : 0, counted };
}
