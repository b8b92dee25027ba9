/** The node flags a merge runs under (node-flags.mjs says why). */
export declare const MERGE_NODE_FLAGS: readonly string[];
