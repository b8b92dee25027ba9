/** "1 image", "2 images", "1,024 images": a count and its noun, singular for one. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : many}`;
}
