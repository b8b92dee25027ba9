/**
 * Back-propagation that frees memory as it goes.
 *
 * TensorFlow.js's own `engine.gradients` (tfjs-core 4.x: engine.ts, tape.ts) keeps two things
 * until the whole backward pass ends: what every op saved for its gradient (its activations) and
 * every gradient it has computed. A training step then peaks at about its activations plus all of
 * their gradients, about twice what PyTorch's autograd holds, which frees both as it goes.
 *
 * `gradients` here walks the same tape with the same gradient functions in the same order, so the
 * values are the engine's to the bit, but it releases what an op saved as soon as that op's
 * gradient has run, and a tensor's gradient as soon as the op that made the tensor has used it
 * (every consumer of a tensor comes after its maker on the tape, so by then the gradient is
 * complete). A gradient can be held under more than one tensor (a custom gradient may hand its dy
 * on as is): each is counted, and disposed when nothing holds it.
 *
 * It reads the engine's tape, as recompute.ts does; test/backprop.test.ts checks it against
 * `tf.variableGrads` on every backend the trainer runs, so a TensorFlow.js that changes its tape
 * fails there, not in a user's run.
 */
import { tf, type Tensor } from '../tf.js';

/** A node of the engine's tape (tfjs-core tape.ts). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, Tensor>;
  outputs: Tensor[];
  gradient?: (dys: (Tensor | null)[]) => Record<string, () => Tensor>;
  saved?: Tensor[];
}

/** The parts of the engine this reads (tfjs-core engine.ts, 4.x). */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T>(name: string, f: () => T): T;
  tidy<T>(f: () => T): T;
}

function engine(): EngineInternals {
  const e = tf.engine() as unknown as EngineInternals;
  if (typeof e.startTape !== 'function' || typeof e.endTape !== 'function' || typeof e.scopedRun !== 'function' || !('state' in e)) {
    throw new Error('this TensorFlow.js has no engine tape where backprop.ts looks for it (written for tfjs-core 4.x)');
  }
  return e;
}

/** The nodes of `tape` on a path from one of `xs` to `y`, each with only its inputs that come from `xs` (tfjs-core's getFilteredNodesXToY). */
function nodesFromXsToY(tape: TapeNode[], xs: Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set(xs.map((x) => x.id));
  const nodesFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      for (const output of node.outputs) fromX.add(output.id);
      nodesFromX.add(node.id);
    }
  }
  const toY = new Set([y.id]);
  const nodesToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i] as TapeNode;
    if (node.outputs.some((output) => toY.has(output.id))) {
      for (const input of Object.values(node.inputs)) toY.add(input.id);
      nodesToY.add(node.id);
    }
  }
  const filtered: TapeNode[] = [];
  for (const node of tape) {
    if (!nodesFromX.has(node.id) || !nodesToY.has(node.id)) continue;
    const inputs: Record<string, Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input;
    filtered.push({ ...node, inputs });
  }
  return filtered;
}

/** Gradients by tensor id; a tensor object held under several ids is disposed when the last lets go. */
class GradientMap {
  private readonly byId = new Map<number, Tensor>();
  private readonly holders = new Map<Tensor, number>();
  constructor(private readonly keep: Set<Tensor>) {}

  get(id: number): Tensor | undefined {
    return this.byId.get(id);
  }

  set(id: number, t: Tensor): void {
    this.release(id);
    this.byId.set(id, t);
    this.holders.set(t, (this.holders.get(t) ?? 0) + 1);
  }

  /** Drops the gradient held under `id`, disposing it if nothing else holds it. */
  release(id: number): void {
    const t = this.byId.get(id);
    if (!t) return;
    this.byId.delete(id);
    const left = (this.holders.get(t) ?? 1) - 1;
    if (left > 0) this.holders.set(t, left);
    else {
      this.holders.delete(t);
      this.disposeIfFree(t);
    }
  }

  /** Disposes `t` unless some id holds it or the caller keeps it. */
  disposeIfFree(t: Tensor): void {
    if (!this.holders.has(t) && !this.keep.has(t)) t.dispose();
  }
}

/**
 * The gradient of each of `node`'s inputs, by input name, checked as the engine checks them. In one
 * tidy: whatever the gradient function makes besides them (a custom gradient computes its results
 * when called, with temporaries of their size; zeros stand in for an output no gradient reached)
 * goes when this node is done, not when the whole backward pass ends.
 */
function inputGradientsOf(e: EngineInternals, node: TapeNode, grads: GradientMap): Record<string, Tensor> {
  const gradient = node.gradient;
  if (!gradient) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
  return e.tidy(() => {
    const inputGradients = gradient(node.outputs.map((o) => grads.get(o.id) ?? null));
    const dxs: Record<string, Tensor> = {};
    for (const [name, x] of Object.entries(node.inputs)) {
      const gradientOf = inputGradients[name];
      if (!gradientOf) throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients)}.`);
      const dx = e.tidy(() => gradientOf());
      if (dx.dtype !== 'float32') throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      if (!tf.util.arraysEqual(dx.shape, x.shape)) throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`);
      dxs[name] = dx;
    }
    return dxs;
  });
}

/**
 * What `tf.engine().gradients(f, xs, dy, allowNoGradients)` returns (the value of `f` and the
 * gradient of each of `xs`, null where none reaches it), freeing as it goes (see above). `dy`,
 * when given, stays the caller's.
 */
export function gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor | null, allowNoGradients = false): { value: Tensor; grads: (Tensor | null)[] } {
  if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
  if (dy && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  const e = engine();
  const y = e.scopedRun(() => e.startTape(), () => e.endTape(), () => e.tidy('forward', f));
  if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
  const tape = e.state.activeTape ?? [];
  const filtered = nodesFromXsToY(tape, xs, y);
  if (!allowNoGradients && filtered.length === 0) throw new Error('Cannot compute gradient of y=f(x) with respect to x: no operation leads from x to y.');
  // Saved tensors can go as the pass reaches them only where no outer gradient may still need them.
  const outermost = e.state.gradientDepth === 0;
  return e.tidy('backward', () => {
    const xIds = new Set(xs.map((x) => x.id));
    const grads = new GradientMap(new Set(dy ? [dy] : []));
    grads.set(y.id, dy ?? tf.onesLike(y));
    for (let i = filtered.length - 1; i >= 0; i--) {
      const node = filtered[i] as TapeNode;
      const dxs = inputGradientsOf(e, node, grads);
      for (const [name, x] of Object.entries(node.inputs)) {
        const dx = dxs[name] as Tensor;
        const sofar = grads.get(x.id);
        if (!sofar) grads.set(x.id, dx);
        else {
          grads.set(x.id, tf.add(sofar, dx));
          grads.disposeIfFree(dx);
        }
      }
      // Every consumer of this node's outputs came later on the tape: their gradients are complete and used.
      for (const o of node.outputs) if (!xIds.has(o.id)) grads.release(o.id);
      if (outermost) for (const t of node.saved ?? []) t.dispose();
    }
    const result = xs.map((x) => grads.get(x.id) ?? null);
    if (outermost) {
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      e.state.activeTape = null;
    }
    return { value: y, grads: result };
  });
}

/**
 * `tf.variableGrads(f, variables)` over `gradients` above: the value of `f` (a scalar) and the
 * gradient of each trainable variable that `f` reaches, by variable name.
 */
export function variableGrads(f: () => tf.Scalar, variables: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const trainable = variables.filter((v) => v.trainable);
  if (trainable.length === 0) throw new Error(`variableGrads() expects at least one of the input variables to be trainable, but none of the ${variables.length} variables is trainable.`);
  const { value, grads } = gradients(f, trainable, null, true);
  if (!grads.some((g) => g !== null)) throw new Error('Cannot find a connection between any variable and the result of the loss function y=f(x).');
  if (value.rank !== 0) throw new Error(`The f passed in variableGrads(f) must return a scalar, but it returned a rank-${value.rank} tensor`);
  const named: tf.NamedTensorMap = {};
  trainable.forEach((v, i) => {
    const g = grads[i];
    if (g) named[v.name] = g;
  });
  return { value: value as tf.Scalar, grads: named };
}
