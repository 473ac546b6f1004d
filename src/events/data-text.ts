import { isUtf8 } from "node:buffer";
import type { DataText } from "./store.js";

/**
 * Why these bytes cannot be an event's {@link DataText} (`utf8`), or undefined when they can: they
 * must be valid UTF-8 without a NUL byte. The stores refuse such an event with this reason; a
 * caller that has other bytes stores their text another way.
 */
export function dataTextProblem(utf8: Uint8Array): string | undefined {
  const bytes = Buffer.from(utf8.buffer, utf8.byteOffset, utf8.byteLength);
  if (!isUtf8(bytes)) return "is not valid UTF-8";
  if (bytes.indexOf(0) >= 0) return "holds a NUL byte";
  return undefined;
}

/** The JSON text a {@link DataText} stands for (its bytes decoded and quoted here). */
export function jsonOfText({ before, utf8, after }: DataText): string {
  const text = Buffer.from(utf8.buffer, utf8.byteOffset, utf8.byteLength).toString("utf8");
  return `${before}${JSON.stringify(text)}${after}`;
}
