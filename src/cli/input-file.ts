import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parse } from "csv-parse/sync";
import { UsageError } from "./usage-error.js";

/** One contact read from the input file, with the line it starts on (1-based, as in the file). */
export interface InputRow {
  line: number;
  contact: Record<string, unknown>;
}

const ENRICH_COLUMNS = ["first_name", "last_name", "domain", "company_name", "linkedin_url"] as const;
const REVERSE_COLUMNS = ["email"] as const;

/**
 * Reads a `.csv` (columns `first_name,last_name,domain,company_name,linkedin_url` — or `email` for
 * reverse lookups — plus any `custom.<key>`) or a `.jsonl` file (one API contact object per line).
 * Malformed files are usage errors naming the line.
 */
export async function readInputFile(path: string, kind: "enrich" | "reverse"): Promise<InputRow[]> {
  const extension = extname(path).toLowerCase();
  if (extension !== ".csv" && extension !== ".jsonl") {
    throw new UsageError(
      `--input: the file type follows the extension, .csv or .jsonl (got ${JSON.stringify(extension || path)})`,
    );
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(
      `--input: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const rows = extension === ".csv" ? parseCsv(text, kind) : parseJsonl(text);
  if (rows.length === 0) throw new UsageError(`--input: ${path} holds no contacts`);
  return rows;
}

function parseCsv(text: string, kind: "enrich" | "reverse"): InputRow[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, {
      columns: true,
      bom: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
    }) as typeof records;
  } catch (error) {
    const { lines } = error as { lines?: number };
    throw new UsageError(
      `--input: malformed CSV${lines ? ` at line ${lines}` : ""}: ${(error as Error).message}`,
    );
  }
  const known: readonly string[] = kind === "enrich" ? ENRICH_COLUMNS : REVERSE_COLUMNS;
  return records.map(({ record, info }) => {
    const contact: Record<string, unknown> = {};
    const custom: Record<string, string> = {};
    for (const [column, value] of Object.entries(record)) {
      if (column.startsWith("custom.")) {
        if (value !== "") custom[column.slice("custom.".length)] = value;
      } else if (known.includes(column)) {
        if (value !== "") contact[column] = value;
      } else {
        throw new UsageError(
          `--input: unknown column ${JSON.stringify(column)} (expected ${known.join(", ")} and custom.<key> columns)`,
        );
      }
    }
    if (Object.keys(custom).length > 0) contact.custom = custom;
    return { line: info.lines, contact };
  });
}

function parseJsonl(text: string): InputRow[] {
  const rows: InputRow[] = [];
  text.split(/\r?\n/).forEach((content, index) => {
    if (content.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(content);
    } catch (error) {
      throw new UsageError(`--input: line ${index + 1}: not valid JSON (${(error as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new UsageError(`--input: line ${index + 1}: expected a JSON object (a contact)`);
    }
    rows.push({ line: index + 1, contact: value as Record<string, unknown> });
  });
  return rows;
}
