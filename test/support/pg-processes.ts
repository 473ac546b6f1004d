import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Child } from "./store-processes.js";

/** The child script the multi-process PostgreSQL tests run (plain ESM importing the compiled store). */
export const pgStoreChildScript = fileURLToPath(new URL("./pg-store-child.mjs", import.meta.url));

/**
 * Starts `script` with `args` under plain `node` (no loader), with an IPC channel, and collects
 * its stdout lines and stderr. Used for the PostgreSQL store's and the Redis limiter's children.
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
  ready.catch(() => {});
  return { process: child, lines, stderr, exited, ready };
}

/** Starts `pg-store-child.mjs` with `args`. */
export function startPgChild(args: readonly string[]): Child {
  return forkChild(pgStoreChildScript, args);
}
