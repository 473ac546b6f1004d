// A child process that runs virtual-time scenarios one at a time, for run.mjs (which keeps as many
// of these busy as there are cores). Each run installs and uninstalls its own fake clock.
import { resolveMode } from "./modes.mjs";
import { runVirtual } from "./virtual.mjs";

process.on("message", async (message) => {
  if (message?.type === "exit") {
    process.exit(0);
  }
  const { id, task } = message;
  try {
    const result = await runVirtual({ ...task, mode: resolveMode(task.modeId, task.batchSize) });
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: String(error?.stack ?? error) });
  }
});
// Orphaned (run.mjs stopped): stop too, whatever is running.
process.on("disconnect", () => process.exit(0));
process.send({ ready: true });
