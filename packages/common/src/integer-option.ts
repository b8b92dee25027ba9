/**
 * A yargs `coerce` for a whole-number option: `--limit abc`, `--limit 0` or `--workers -1` become
 * a usage error (exit 2, one line naming the option and what was typed) instead of NaN or a
 * nonsense count reaching the command. Declare the option without `type: 'number'`, so yargs
 * hands over what was typed ("abc") rather than NaN.
 */
export function integerOption(flag: string, min: 0 | 1): (value: unknown) => number {
  const wanted = min === 1 ? 'a positive integer' : 'a whole number ≥ 0';
  return (value: unknown): number => {
    if (Array.isArray(value)) throw new Error(`--${flag} is given ${value.length} times; give it once`);
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
    if (Number.isSafeInteger(n) && n >= min) return n;
    const got = value === true || value === '' ? 'no value' : `"${String(value)}"`;
    throw new Error(`--${flag} takes ${wanted}, got ${got}`);
  };
}
