/**
 * The cosine similarities of the head's pixel embeddings e = f·W + b with the label embeddings,
 * taken from the head's input f [P, d] without making e [P, D] (d = decoderDim 256 < D = 512 for
 * B0): cos(e_j, V_i) = (f_j·A + c)_i / ‖e_j‖ with A = W·V̂ᵀ [d, K] and c = b·V̂ᵀ [K] (V̂ the
 * normalised label embeddings), and ‖e_j‖² = f_j·G·f_jᵀ + 2·f_j·u + β with G = W·Wᵀ [d, d],
 * u = W·b [d], β = b·b. A training step at the map's resolution (L_HD, L_LD) so does about half
 * the products of computing e and normalising it: at B0 256×256 one image's head and cosine took
 * 160 ms of products and 25 ms of transposes and element-wise work, this form about 90 ms. A, c,
 * G, u and β are small ops on the weights whose gradients TensorFlow.js takes; the products over
 * the pixels are one op with its gradient written out. The squared norm is a sum of three float32
 * terms: where b nearly cancels f·W (an embedding under about 1% of ‖b‖) it keeps fewer digits
 * than normalising e would (a cosine off by 2e-3 at ‖e‖ = 0.003·‖b‖; 5e-8 at B0's sizes in use).
 */
import { tf, type Tensor } from '../tf.js';
import { columnSums, l2Normalize, matMulFast } from '../model/ops.js';

/** The head's weights folded with the normalised label embeddings (differentiable in W and b). */
export interface FoldedHead {
  /** W·V̂ᵀ [d, K]. */
  a: Tensor;
  /** b·V̂ᵀ [K]. */
  c: Tensor;
  /** W·Wᵀ [d, d]: symmetric, as headCosineSimilarities' gradient assumes. */
  g: Tensor;
  /** W·b [d, 1]. */
  u: Tensor;
  /** b·b, a scalar. */
  beta: Tensor;
}

/** Folds the head's W [d, D] and b [D] with the label embeddings [K, D] (normalised here). */
export function foldHead(w: Tensor, b: Tensor, labelEmb: Tensor): FoldedHead {
  const dim = w.shape[1] as number;
  if (labelEmb.shape[1] !== dim) throw new Error(`pixel embeddings have ${dim} dimensions, label embeddings ${labelEmb.shape[1]}`);
  // The label embeddings are fixed: only W and b take gradients.
  const labelsT = tf.transpose(l2Normalize(labelEmb));
  const bRow = tf.reshape(b, [1, dim]);
  return {
    a: matMulFast(w, labelsT),
    c: tf.reshape(matMulFast(bRow, labelsT), [labelEmb.shape[0] as number]),
    g: matMulFast(w, tf.transpose(w)),
    u: matMulFast(w, tf.reshape(b, [dim, 1])),
    beta: tf.sum(tf.square(b)),
  };
}

type Saver = (saved: Tensor[]) => void;

/**
 * cos(f_j·W + b, V_i) for the rows f [P, d] of the head's input: [P, K]. Equal to
 * cosineSimilarities(f·W + b, labelEmb) to float rounding (a norm clamped at sqrt(eps) as
 * l2Normalize's).
 */
export function headCosineSimilarities(f: Tensor, head: FoldedHead, eps = 1e-12): Tensor {
  const op = tf.customGrad((...args: (Tensor | Saver)[]) => {
    const [x, a, c, g, u, beta] = args as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
    const save = args[6] as Saver;
    const fg = tf.matMul(x, g);
    const q = tf.add(tf.add(tf.sum(tf.mul(fg, x), 1, true), tf.mul(tf.matMul(x, u), 2)), beta);
    const norm = tf.sqrt(tf.maximum(q, eps));
    const cos = tf.div(tf.add(tf.matMul(x, a), c), norm);
    // Where the norm is clamped it is a constant: no gradient reaches q.
    const unclamped = tf.cast(tf.greater(q, eps), 'float32');
    save([x, a, u, fg, cos, norm, unclamped]);
    return {
      value: cos,
      gradFunc: (dCos: Tensor, saved: Tensor[]) => {
        const [sx, sa, su, sfg, scos, snorm, smask] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
        const dRaw = tf.div(dCos, snorm);
        // d‖e‖²: −Σ_i dcos_i·cos_i / (2‖e‖²) per row.
        const dq = tf.div(tf.mul(tf.sum(tf.mul(dCos, scos), 1, true), tf.mul(smask, -0.5)), tf.square(snorm));
        const xT = tf.transpose(sx);
        const dx = tf.add(tf.matMul(dRaw, tf.transpose(sa)), tf.mul(tf.add(sfg, tf.reshape(su, [1, -1])), tf.mul(dq, 2)));
        return [dx, tf.matMul(xT, dRaw), columnSums(dRaw), tf.matMul(xT, tf.mul(sx, dq)), tf.mul(tf.matMul(xT, dq), 2), tf.sum(dq)];
      },
    };
  });
  return op(f, head.a, head.c, head.g, head.u, head.beta);
}
