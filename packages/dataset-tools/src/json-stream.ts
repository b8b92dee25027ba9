/**
 * Streams the elements of top-level arrays of a JSON file (COCO-style annotation files run to
 * gigabytes: Objects365 v2's training JSON holds 25 million boxes), never holding the file or
 * the arrays in memory.
 */
import { JSONParser } from '@streamparser/json';
import { createReadStream } from 'node:fs';

/** A file that is not well-formed JSON: where (the byte offset) and why. */
export class MalformedJsonError extends Error {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`malformed JSON at byte ${offset.toLocaleString('en-US')}: ${reason}`);
    this.name = 'MalformedJsonError';
  }
}

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
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    parser.write(chunk as Buffer);
    if (failure) break;
    bytes += (chunk as Buffer).length;
  }
  if (!failure && !parser.isEnded) parser.end();
  const error = failure as Error | null;
  if (error) {
    // The tokenizer names the absolute byte position of an unexpected character; a file that ends
    // inside a value fails at its end.
    const at = /absolute position "(\d+)"/.exec(error.message);
    const reason = at
      ? error.message.replace(/ at chunk position "\d+" \(absolute position "\d+"\)/, '')
      : /ended in (mid-parsing|the middle of a token)/.test(error.message)
        ? `the file ends inside a value (${bytes.toLocaleString('en-US')} bytes: truncated?)`
        : error.message;
    throw new MalformedJsonError(at ? Number(at[1]) : bytes, reason);
  }
}
