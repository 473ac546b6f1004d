import type { Writable } from "node:stream";

/** What a command may touch of the outside world (so tests can run commands in-process). */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
}

export function print(stream: Writable, line = ""): void {
  stream.write(`${line}\n`);
}
