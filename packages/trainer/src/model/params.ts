/**
 * A model's trainable tensors by name ("stage1/block0/attn/q/w"), created with a seeded
 * generator so the same seed gives the same initial weights.
 */
import { seededNormal } from '@sentseg/common';
import { tf, type Tensor, type Variable } from '../tf.js';

export class ParamStore {
  private readonly vars = new Map<string, Variable>();
  private readonly gaussian: () => number;

  constructor(seed: number) {
    this.gaussian = seededNormal(seed, 'cosine');
  }

  private add(name: string, shape: number[], values: Float32Array): Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} defined twice`);
    const variable = tf.variable(tf.tensor(values, shape, 'float32'), true);
    this.vars.set(name, variable);
    return variable;
  }

  /** Normal(0, std²) truncated at ±2 std (the SegFormer reference's trunc_normal_). */
  truncNormal(name: string, shape: number[], std: number): Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      let g = this.gaussian();
      while (Math.abs(g) > 2) g = this.gaussian();
      values[i] = g * std;
    }
    return this.add(name, shape, values);
  }

  constant(name: string, shape: number[], value: number): Variable {
    const size = shape.reduce((a, b) => a * b, 1);
    return this.add(name, shape, new Float32Array(size).fill(value));
  }

  get(name: string): Variable {
    const found = this.vars.get(name);
    if (!found) throw new Error(`no parameter ${name}`);
    return found;
  }

  names(): string[] {
    return [...this.vars.keys()];
  }

  entries(): [string, Variable][] {
    return [...this.vars.entries()];
  }

  /** Number of scalar weights. */
  count(): number {
    let total = 0;
    for (const v of this.vars.values()) total += v.size;
    return total;
  }

  /** Replaces every value; names and shapes must match exactly. */
  assign(values: Map<string, Tensor>, source: string): void {
    const missing = this.names().filter((n) => !values.has(n));
    const extra = [...values.keys()].filter((n) => !this.vars.has(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new Error(`weights in ${source} do not fit this model: missing ${missing.slice(0, 5).join(', ') || 'none'}; unexpected ${extra.slice(0, 5).join(', ') || 'none'}`);
    }
    for (const [name, variable] of this.vars) {
      const value = values.get(name) as Tensor;
      if (value.shape.join('x') !== variable.shape.join('x')) {
        throw new Error(`weight ${name} in ${source} has shape ${value.shape.join('×')}, this model has ${variable.shape.join('×')}`);
      }
      variable.assign(value);
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
