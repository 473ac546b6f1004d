import { FullEnrichError } from "../api/errors.js";

/**
 * Loads an optional peer dependency (pg, ioredis) on first use, with an error that says what to
 * install when it is missing. Importing fullenrich-rx never loads them.
 */
export async function loadOptionalPeer<T>(name: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new FullEnrichError(
      `${purpose} needs the ${name} package, an optional peer dependency of fullenrich-rx: install it (npm install ${name})`,
      { cause: error },
    );
  }
}
