import { type ChildProcess, fork } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The child script the multi-process store tests run (plain ESM importing the compiled stores). */
export const storeChildScript = fileURLToPath(new URL("./store-child.mjs", import.meta.url));

const distEntry = fileURLToPath(new URL("../../dist/events/stores/index.js", import.meta.url));
const sourceDirectory = fileURLToPath(new URL("../../src/events/stores/", import.meta.url));
const distDirectory = fileURLToPath(new URL("../../dist/events/stores/", import.meta.url));

/** The source files below `directory` (TypeScript and JavaScript), as paths relative to it. */
function sourcesBelow(directory: string, prefix = ""): string[] {
  return readdirSync(`${directory}${prefix}`, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isDirectory()) return sourcesBelow(directory, `${prefix}${entry.name}/`);
    return /\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [`${prefix}${entry.name}`] : [];
  });
}

/**
 * Throws unless `dist/` holds a build of the store at least as new as its sources: the child
 * processes import the compiled store. `npm test` builds first; after editing the store and running
 * vitest directly, run `npm run build`.
 */
export function assertStoreBuilt(): void {
  if (!existsSync(distEntry)) {
    throw new Error(`${distEntry} is missing: run \`npm run build\` first (\`npm test\` does it)`);
  }
  for (const file of sourcesBelow(sourceDirectory)) {
    const compiled = `${distDirectory}${file.replace(/\.ts$/, ".js")}`;
    if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(`${sourceDirectory}${file}`).mtimeMs) {
      throw new Error(`dist/ is older than src/events/stores/${file}: run \`npm run build\` first`);
    }
  }
}

/** A running child with its stdout split into lines. */
export interface Child {
  process: ChildProcess;
  lines: string[];
  stderr: string[];
  /** Resolves with the exit code (or the signal's name) once the child has exited. */
  exited: Promise<number | string>;
  /** Resolves when the child said "ready" on its IPC channel; rejects if it exits first. */
  ready: Promise<void>;
}

/**
 * Starts `script` with `args` under plain `node` (no loader), with an IPC channel, and collects its
 * stdout lines and stderr. Used for the stores' and the Redis limiter's children.
 */
export function forkChild(script: string, args: readonly string[]): Child {
  const child = fork(script, [...args], { execArgv: [], stdio: ["ignore", "pipe", "pipe", "ipc"] });
  const lines: string[] = [];
  const stderr: string[] = [];
  let partial = "";
  child.stdout?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (message) => {
      if (message === "ready") resolve();
    });
    void exited.then((code) =>
      reject(new Error(`the child exited (${code}) before it was ready: ${stderr.join("")}`)),
    );
  });
  // Only the tests that wait for readiness care; don't report an unhandled rejection otherwise.
  ready.catch(() => {});
  return { process: child, lines, stderr, exited, ready };
}

/** Starts `store-child.mjs` with `args` (a SQLite path or a postgres:// URL first). */
export function startChild(args: readonly string[]): Child {
  return forkChild(storeChildScript, args);
}

/** Resolves with `promise`, or rejects after `ms` saying what did not happen (and the child's stderr). */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  children: readonly Child[] = [],
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const output = children.map(
        (child, i) => `child ${i}: stdout ${child.lines.length} lines, stderr ${child.stderr.join("")}`,
      );
      reject(new Error(`timed out after ${ms} ms waiting for ${what}\n${output.join("\n")}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
