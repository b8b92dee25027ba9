/**
 * Learning rate at a step: linear warm-up from `warmupRatio · lr` to `lr` over `warmupSteps`,
 * then polynomial decay lr · (1 − t/T)^power to 0 at step T (the SegFormer and HRNet recipes).
 */
export interface ScheduleConfig {
  lr: number;
  totalSteps: number;
  polyPower: number;
  warmupSteps: number;
  warmupRatio: number;
}

export function learningRate(step: number, s: ScheduleConfig): number {
  const poly = s.lr * Math.pow(Math.max(0, 1 - step / Math.max(1, s.totalSteps)), s.polyPower);
  if (step >= s.warmupSteps) return poly;
  const k = step / Math.max(1, s.warmupSteps);
  return poly * (s.warmupRatio + (1 - s.warmupRatio) * k);
}
