/**
 * Gradient checkpointing (recomputation) for TensorFlow.js. Inside `tf.variableGrads` every
 * intermediate tensor of the forward pass stays alive until the backward pass ends, so a training
 * step holds all of them at once: at SegFormer-B0, 512×512, batch 2 that is several gigabytes,
 * beyond what one WebAssembly heap can hold. `recompute(fn, inputs)` runs `fn` without recording
 * its intermediates (they are freed as soon as its output exists) and, in the backward pass,
 * runs it again under a tape of its own to take its gradients: the step then holds only the
 * inputs of each recomputed segment, plus one segment's intermediates at a time.
 */
import { gradients } from './backprop.js';
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
 * `tf.engine().gradients` of `fn(...inputs)` for the output gradient `dy`, taken while an outer
 * gradient is being back-propagated. The engine has one tape for the outermost gradient (a nested
 * one at depth 0 replaces it and clears it when done), so the outer tape is set aside while this
 * one runs and put back afterwards. An input without a gradient (an int32 target) gets null.
 */
function gradientsInside(fn: () => Tensor, inputs: Tensor[], dy: Tensor): (Tensor | null)[] {
  const state = engineState();
  const outerTape = state.activeTape;
  try {
    const { value, grads } = gradients(fn, inputs, dy, true);
    value.dispose();
    return grads.map((g) => g ?? null);
  } finally {
    state.activeTape = outerTape;
  }
}

/** The gradients of `fn(...inputs)` for `dy`, zeros where an input has none (the engine wants float32 of its shape). */
function innerGradients(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], dy: Tensor): Tensor[] {
  const grads = gradientsInside(() => fn(...inputs), inputs, dy);
  // dy stays: the outer pass (backprop.ts) frees it once this op is done, and it may hold the same
  // tensor as another's gradient (a custom gradient can hand its dy on as is to several inputs).
  return grads.map((g, i) => g ?? tf.zeros((inputs[i] as Tensor).shape));
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

/**
 * `fn(0, ...inputs)`, …, `fn(parts − 1, ...inputs)` concatenated along `axis`, as one recomputed
 * op: the forward pass computes the parts one at a time and keeps none of their intermediates, and
 * the backward pass recomputes them one at a time, adding each part's input gradients into one
 * running sum per input (freed as it goes). Unlike `recompute` once per part, the inputs are saved
 * once (the engine copies what a gradient saves) and each input has one gradient in the outer
 * backward pass, not one per part (TensorFlow.js keeps every gradient until that pass ends). For
 * the decoder's bands of output rows, each reading all four feature maps. `fn` must be a pure
 * function of `inputs` and the part's index (pass every variable it reads as an input).
 */
export function recomputeParts(parts: number, axis: number, fn: (part: number, ...xs: Tensor[]) => Tensor, inputs: Tensor[]): Tensor {
  if (parts === 1) return recompute((...xs) => fn(0, ...xs), inputs);
  const op = tf.customGrad((...args: (Tensor | ((saved: Tensor[]) => void))[]) => {
    const xs = args.slice(0, inputs.length) as Tensor[];
    const save = args[inputs.length] as (saved: Tensor[]) => void;
    save(xs);
    const outputs = Array.from({ length: parts }, (_, part) => tf.tidy(() => fn(part, ...xs)));
    const value = tf.concat(outputs, axis);
    tf.dispose(outputs);
    // Where each part lies along `axis`, for its slice of the output gradient.
    const starts: number[] = [];
    let at = 0;
    for (const o of outputs) {
      starts.push(at);
      at += o.shape[axis] as number;
    }
    const sizes = outputs.map((o) => o.shape);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        let sums: (Tensor | null)[] = saved.map(() => null);
        for (let part = 0; part < parts; part++) {
          const begin = dy.shape.map((_, d) => (d === axis ? (starts[part] as number) : 0));
          const dyPart = tf.slice(dy, begin, sizes[part] as number[]);
          const grads = gradientsInside(() => fn(part, ...saved), saved, dyPart);
          dyPart.dispose();
          sums = sums.map((sum, i) => {
            const g = grads[i] ?? null;
            if (!g || !sum) return sum ?? g;
            const next = tf.add(sum, g);
            sum.dispose();
            g.dispose();
            return next;
          });
        }
        // dy stays the outer pass's (as in innerGradients).
        return sums.map((g, i) => g ?? tf.zeros((saved[i] as Tensor).shape));
      },
    };
  });
  return op(...inputs);
}
