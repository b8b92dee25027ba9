/**
 * A small builder of ONNX graphs with seeded random weights, shared by the generated CLIP text and
 * vision towers: initializers, nodes, and the pre-norm transformer blocks both towers use.
 */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { seededNormal } from '@sentseg/common';

const proto = onnxProto.onnx;
export const FLOAT = proto.TensorProto.DataType.FLOAT;
export const INT64 = proto.TensorProto.DataType.INT64;
export const INT32 = proto.TensorProto.DataType.INT32;

export class GraphBuilder {
  readonly initializers: onnx.ITensorProto[] = [];
  readonly nodes: onnx.INodeProto[] = [];
  private counter = 0;
  private readonly normal: () => number;

  constructor(seed: number) {
    this.normal = seededNormal(seed, 'cosine');
  }

  floatTensor(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({ name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }

  intTensor(name: string, dims: number[], values: number[]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name, dims, dataType: INT64, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  randomTensor(name: string, dims: number[], std: number): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let i = 0; i < size; i++) values[i] = this.normal() * std;
    return this.floatTensor(name, dims, values);
  }

  filled(name: string, dims: number[], value: number): string {
    return this.floatTensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value));
  }

  attr(name: string, value: number | number[], kind: 'int' | 'float' | 'ints'): onnx.IAttributeProto {
    if (kind === 'int') return { name, type: proto.AttributeProto.AttributeType.INT, i: value as number };
    if (kind === 'float') return { name, type: proto.AttributeProto.AttributeType.FLOAT, f: value as number };
    return { name, type: proto.AttributeProto.AttributeType.INTS, ints: value as number[] };
  }

  op(opType: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], output = `${opType.toLowerCase()}_${this.counter++}`): string {
    this.nodes.push({ opType, input: inputs, output: [output], attribute: attributes, name: output });
    return output;
  }

  linear(x: string, prefix: string, inDim: number, outDim: number, bias = true): string {
    const w = this.randomTensor(`${prefix}.weight`, [inDim, outDim], 1 / Math.sqrt(inDim));
    const y = this.op('MatMul', [x, w]);
    return bias ? this.op('Add', [y, this.filled(`${prefix}.bias`, [outDim], 0)]) : y;
  }

  layerNorm(x: string, prefix: string, dim: number, output?: string): string {
    return this.op('LayerNormalization', [x, this.filled(`${prefix}.weight`, [dim], 1), this.filled(`${prefix}.bias`, [dim], 0)], [this.attr('axis', -1, 'int'), this.attr('epsilon', 1e-5, 'float')], output);
  }

  /** CLIP's pre-norm blocks: multi-head self-attention (with an additive mask if given) and a quick-GELU MLP. */
  transformerBlocks(x: string, o: { layers: number; hidden: number; heads: number; intermediate: number; mask?: string }): string {
    const dh = o.hidden / o.heads;
    const headShape = this.intTensor('head_shape', [4], [0, 0, o.heads, dh]);
    const mergedShape = this.intTensor('merged_shape', [3], [0, 0, o.hidden]);
    const scale = this.floatTensor('attention_scale', [], new Float32Array([1 / Math.sqrt(dh)]));
    const geluScale = this.floatTensor('quick_gelu_scale', [], new Float32Array([1.702]));
    let out = x;
    for (let l = 0; l < o.layers; l++) {
      const p = `layers.${l}`;
      const h = this.layerNorm(out, `${p}.layer_norm1`, o.hidden);
      const heads = (name: string, perm: number[]) =>
        this.op('Transpose', [this.op('Reshape', [this.linear(h, `${p}.self_attn.${name}`, o.hidden, o.hidden), headShape])], [this.attr('perm', perm, 'ints')]);
      const q = heads('q_proj', [0, 2, 1, 3]);
      const k = heads('k_proj', [0, 2, 3, 1]);
      const v = heads('v_proj', [0, 2, 1, 3]);
      const scaled = this.op('Mul', [this.op('MatMul', [q, k]), scale]);
      const scores = o.mask ? this.op('Add', [scaled, o.mask]) : scaled;
      const attended = this.op('MatMul', [this.op('Softmax', [scores], [this.attr('axis', -1, 'int')]), v]);
      const merged = this.op('Reshape', [this.op('Transpose', [attended], [this.attr('perm', [0, 2, 1, 3], 'ints')]), mergedShape]);
      out = this.op('Add', [out, this.linear(merged, `${p}.self_attn.out_proj`, o.hidden, o.hidden)]);
      const h2 = this.layerNorm(out, `${p}.layer_norm2`, o.hidden);
      const fc1 = this.linear(h2, `${p}.mlp.fc1`, o.hidden, o.intermediate);
      const gelu = this.op('Mul', [fc1, this.op('Sigmoid', [this.op('Mul', [fc1, geluScale])])]);
      out = this.op('Add', [out, this.linear(gelu, `${p}.mlp.fc2`, o.intermediate, o.hidden)]);
    }
    return out;
  }

  /** The serialised model (opset 17). Shapes: numbers are fixed, strings are named dimensions. */
  encode(name: string, inputs: [string, number, (string | number)[]][], outputs: [string, number, (string | number)[]][]): Uint8Array {
    const dim = (v: string | number): onnx.TensorShapeProto.IDimension => (typeof v === 'string' ? { dimParam: v } : { dimValue: v });
    const valueInfo = ([n, elemType, shape]: [string, number, (string | number)[]]): onnx.IValueInfoProto => ({ name: n, type: { tensorType: { elemType, shape: { dim: shape.map(dim) } } } });
    const model = proto.ModelProto.create({
      irVersion: 8,
      producerName: 'sentseg-label-bank',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name, node: this.nodes, initializer: this.initializers, input: inputs.map(valueInfo), output: outputs.map(valueInfo) },
    });
    return proto.ModelProto.encode(model).finish();
  }
}
