import { z } from "zod";
import { SnapshotError, type StoredSnapshot } from "../../store.js";

const SnapshotRowSchema = z.object({
  position: z.coerce.number().int().nonnegative(),
  version: z.coerce.number().int().nonnegative(),
  data: z.string(),
});

/**
 * A stored snapshot row (`position`, `version`, `data` as JSON text) read back as a
 * {@link StoredSnapshot}; throws {@link SnapshotError} naming the snapshot and what is wrong.
 * @internal
 */
export function snapshotOfRow(name: string, row: unknown): StoredSnapshot {
  const parsed = SnapshotRowSchema.safeParse(row);
  if (!parsed.success) {
    const problem = parsed.error.issues
      .map((issue) => `${issue.path.join(".") || "row"}: ${issue.message}`)
      .join("; ");
    throw new SnapshotError(name, `the stored snapshot "${name}" is not valid (${problem})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(parsed.data.data) as unknown;
  } catch (error) {
    throw new SnapshotError(
      name,
      `the stored snapshot "${name}" has data that is not JSON (${error instanceof Error ? error.message : String(error)})`,
      { cause: error },
    );
  }
  return { position: parsed.data.position, version: parsed.data.version, data };
}
