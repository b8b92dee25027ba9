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
   * One update of every variable that has a gradient. `decays(name)` says which take weight decay.
   */
  apply(params: [string, Variable][], grads: Record<string, Tensor>, lr: number, decays: (name: string) => boolean, gradName: (v: Variable) => string): void {
    this.step += 1;
    const c = this.config;
    tf.tidy(() => {
      for (const [name, variable] of params) {
        const g = grads[gradName(variable)];
        if (!g) continue;
        const wd = decays(name) ? c.weightDecay : 0;
        if (c.kind === 'adamw') {
          const m = this.slot(`${name}/m`, variable);
          const v = this.slot(`${name}/v`, variable);
          m.assign(tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1)));
          v.assign(tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2)));
          const mHat = tf.div(m, 1 - Math.pow(c.beta1, this.step));
          const vHat = tf.div(v, 1 - Math.pow(c.beta2, this.step));
          const update = tf.div(mHat, tf.add(tf.sqrt(vHat), c.epsilon));
          const decayed = wd > 0 ? tf.mul(variable, 1 - lr * wd) : variable;
          variable.assign(tf.sub(decayed, tf.mul(update, lr)));
        } else {
          const buf = this.slot(`${name}/momentum`, variable);
          const withDecay = wd > 0 ? tf.add(g, tf.mul(variable, wd)) : g;
          buf.assign(tf.add(tf.mul(buf, c.momentum), withDecay));
          variable.assign(tf.sub(variable, tf.mul(buf, lr)));
        }
      }
    });
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
