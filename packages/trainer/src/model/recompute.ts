/**
 * Gradient checkpointing (recomputation) for TensorFlow.js. Inside `tf.variableGrads` every
 * intermediate tensor of the forward pass stays alive until the backward pass ends, so a training
 * step holds all of them at once: at SegFormer-B0, 512×512, batch 2 that is several gigabytes,
 * beyond what one WebAssembly heap can hold. `recompute(fn, inputs)` runs `fn` without recording
 * its intermediates (they are freed as soon as its output exists) and, in the backward pass,
 * runs it again under a tape of its own to take its gradients: the step then holds only the
 * inputs of each recomputed segment, plus one segment's intermediates at a time.
 */
import { tf, type Tensor } from '../tf.js';

interface EngineState {
  activeTape: unknown;
  gradientDepth: number;
}

/** The engine's gradient state (TensorFlow.js 4.x keeps one tape for the outermost gradient). */
function engineState(): EngineState {
  return (tf.engine() as unknown as { state: EngineState }).state;
}

/**
 * The gradients of `fn(...inputs)` with respect to every input, for the output gradient `dy`,
 * taken while an outer gradient is being back-propagated. The engine has one tape for the
 * outermost gradient (a nested one at depth 0 replaces it and clears it when done), so the outer
 * tape is set aside while this one runs and put back afterwards.
 */
function innerGradients(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], dy: Tensor): Tensor[] {
  const state = engineState();
  const outerTape = state.activeTape;
  try {
    const { value, grads } = tf.engine().gradients(() => fn(...inputs), inputs, dy, true);
    value.dispose();
    // TensorFlow.js keeps the gradient of every tensor until the whole backward pass ends; the
    // gradient of this segment's output is used by this segment only, so it goes now.
    dy.dispose();
    // An input without a gradient (an int32 target) gets zeros: the engine wants float32 of its shape.
    return grads.map((g, i) => g ?? tf.zeros((inputs[i] as Tensor).shape));
  } finally {
    state.activeTape = outerTape;
  }
}

/**
 * `fn(...inputs)`, whose intermediates are not kept for the backward pass: they are recomputed
 * there. `fn` must be a pure function of `inputs` (weights included: pass every variable it reads
 * as an input, or its gradient is lost). Outside a gradient it is `fn` in a tidy.
 */
export function recompute(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): Tensor {
  const op = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const xs = args.slice(0, inputs.length) as Tensor[];
    const save = args[inputs.length] as (saved: Tensor[]) => void;
    // The forward pass's tidy frees every tensor a gradient has not saved: the inputs are saved
    // (references, not copies), and the gradient is taken with respect to those.
    save(xs);
    return {
      value: fn(...xs),
      gradFunc: (dy: Tensor, saved: Tensor[]) => innerGradients(fn, saved, dy),
    };
  });
  return op(...inputs);
}
