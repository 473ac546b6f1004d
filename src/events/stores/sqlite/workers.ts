import type { Worker } from "node:worker_threads";

/**
 * Waits until `worker` (already asked to stop) has exited, terminating it if it has not within
 * `graceMs`. Under fake timers the grace timer may never fire; a worker that stops by itself still
 * ends the wait.
 * @internal
 */
export async function stopWorker(worker: Worker, exited: Promise<void>, graceMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), graceMs);
  });
  const outcome = await Promise.race([exited.then(() => "exited" as const), timedOut]);
  if (timer !== undefined) clearTimeout(timer);
  if (outcome === "timeout") await worker.terminate();
  await exited;
}
