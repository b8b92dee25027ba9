/**
 * Streams the elements of top-level arrays of a JSON file (COCO-style annotation files run to
 * gigabytes: Objects365 v2's training JSON holds 25 million boxes), never holding the file or
 * the arrays in memory.
 */
import { JSONParser } from '@streamparser/json';
import { createReadStream } from 'node:fs';

/** Calls `onItem(array, element)` for every element of the named top-level arrays, in file order. */
export async function streamJsonArrays(file: string, arrays: string[], onItem: (array: string, value: unknown) => void): Promise<void> {
  const parser = new JSONParser({ paths: arrays.map((a) => `$.${a}.*`), keepStack: false });
  parser.onValue = ({ value, stack }) => {
    const array = stack[1]?.key;
    if (typeof array === 'string') onItem(array, value);
  };
  let failure: Error | null = null;
  parser.onError = (err) => {
    failure = err;
  };
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    parser.write(chunk as Buffer);
    if (failure) break;
  }
  if (!failure && !parser.isEnded) parser.end();
  const error = failure as Error | null;
  if (error) throw new Error(`malformed JSON: ${error.message}`);
}
