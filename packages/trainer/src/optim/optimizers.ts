/**
 * AdamW (decoupled weight decay; the SegFormer recipe) and SGD with momentum (the HRNet recipe),
 * written over named variables so that their state (step and every slot tensor) saves and
 * restores exactly with a checkpoint.
 */
import { tf, type Tensor, type Variable } from '../tf.js';

export type OptimizerKind = 'adamw' | 'sgd';

export interface OptimizerConfig {
  kind: OptimizerKind;
  weightDecay: number;
  /** AdamW. */
  beta1: number;
  beta2: number;
  epsilon: number;
  /** SGD. */
  momentum: number;
}

export class Optimizer {
  readonly config: OptimizerConfig;
  /** Updates applied so far. */
  step = 0;
  private readonly slots = new Map<string, Variable>();

  constructor(config: OptimizerConfig) {
    this.config = config;
  }

  private slot(name: string, like: Tensor): Variable {
    let s = this.slots.get(name);
    if (!s) {
      s = tf.variable(tf.zerosLike(like), false);
      this.slots.set(name, s);
    }
    return s;
  }

  /**
   * One update of every variable that has a gradient. `decaysWeight(name)` says which take weight decay.
   */
  apply(params: [string, Variable][], grads: Record<string, Tensor>, lr: number, decaysWeight: (name: string) => boolean, gradName: (v: Variable) => string): void {
    this.step += 1;
    const c = this.config;
    tf.tidy(() => {
      // Each constant once per update, not once per weight: an op given a JavaScript number makes
      // (and uploads) a scalar tensor of it on every call, 8 per weight (1,600 per B0 step).
      const scalar = (x: number) => tf.scalar(x);
      const beta1 = scalar(c.beta1);
      const oneMinusBeta1 = scalar(1 - c.beta1);
      const beta2 = scalar(c.beta2);
      const oneMinusBeta2 = scalar(1 - c.beta2);
      const correction1 = scalar(1 - Math.pow(c.beta1, this.step));
      const correction2 = scalar(1 - Math.pow(c.beta2, this.step));
      const epsilon = scalar(c.epsilon);
      const rate = scalar(lr);
      const keep = scalar(1 - lr * c.weightDecay);
      const momentum = scalar(c.momentum);
      const decay = scalar(c.weightDecay);
      for (const [name, variable] of params) {
        const g = grads[gradName(variable)];
        if (!g) continue;
        // Each weight's temporaries go once it is updated: held to the end of the loop they were a
        // dozen copies of all the weights (3 GiB for SegFormer-B4, which then aborted in WebAssembly).
        tf.tidy(() => this.update(name, variable, g, c.weightDecay > 0 && decaysWeight(name), { beta1, oneMinusBeta1, beta2, oneMinusBeta2, correction1, correction2, epsilon, rate, keep, momentum, decay }));
      }
    });
  }

  /** One weight's update (inside its own tidy), with the update's constants as scalars. */
  private update(name: string, variable: Variable, g: Tensor, decays: boolean, k: Record<'beta1' | 'oneMinusBeta1' | 'beta2' | 'oneMinusBeta2' | 'correction1' | 'correction2' | 'epsilon' | 'rate' | 'keep' | 'momentum' | 'decay', Tensor>): void {
    const { beta1, oneMinusBeta1, beta2, oneMinusBeta2, correction1, correction2, epsilon, rate, keep, momentum, decay } = k;
    if (this.config.kind === 'adamw') {
      const m = this.slot(`${name}/m`, variable);
      const v = this.slot(`${name}/v`, variable);
      m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, oneMinusBeta1)));
      v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), oneMinusBeta2)));
      const mHat = tf.div(m, correction1);
      const vHat = tf.div(v, correction2);
      const update = tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon));
      const decayed = decays ? tf.mul(variable, keep) : variable;
      variable.assign(tf.sub(decayed, tf.mul(update, rate)));
    } else {
      const buf = this.slot(`${name}/momentum`, variable);
      const withDecay = decays ? tf.add(g, tf.mul(variable, decay)) : g;
      buf.assign(tf.add(tf.mul(buf, momentum), withDecay));
      variable.assign(tf.sub(variable, tf.mul(buf, rate)));
    }
  }

  /** Slot tensors by name, for saving. */
  state(): Map<string, Tensor> {
    return new Map(this.slots);
  }

  /** Restores the step and slots saved by `state()`. */
  restore(step: number, slots: Map<string, Tensor>): void {
    this.dispose();
    this.step = step;
    for (const [name, value] of slots) this.slots.set(name, tf.variable(value, false));
  }

  dispose(): void {
    for (const s of this.slots.values()) s.dispose();
    this.slots.clear();
  }
}
