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

/** How a CSV's columns that are not the API's are treated. */
export interface ColumnOptions {
  /** Columns renamed before reading: `{ "Company Domain": "domain", "CRM Id": "custom.crm_id" }`. */
  map?: Readonly<Record<string, string>>;
  /** Skip the columns that are neither the API's nor `custom.<key>` (default: an error that says how). */
  ignoreUnknown?: boolean;
}

/** What was read, and the columns left out (with `ignoreUnknown`). */
export interface InputFile {
  rows: InputRow[];
  ignoredColumns: string[];
}

/** The fields a column may be mapped to with `--map`. */
export function mappableFields(kind: "enrich" | "reverse"): string {
  return `${(kind === "enrich" ? ENRICH_COLUMNS : REVERSE_COLUMNS).join(", ")} or custom.<key>`;
}

/**
 * Reads a `.csv` (columns `first_name,last_name,domain,company_name,linkedin_url` — or `email` for
 * reverse lookups — plus any `custom.<key>`) or a `.jsonl` file (one API contact object per line).
 * Malformed files are usage errors naming the line; a CSV without the columns a contact needs is
 * one error naming them.
 */
export async function readInputFile(
  path: string,
  kind: "enrich" | "reverse",
  columns: ColumnOptions = {},
): Promise<InputFile> {
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
    throw new UsageError(`--input: ${unreadable(path, error as NodeJS.ErrnoException)}`);
  }
  const file =
    extension === ".csv" ? parseCsv(text, kind, columns) : { rows: parseJsonl(text), ignoredColumns: [] };
  if (file.rows.length === 0) throw new UsageError(`--input: ${path} holds no contacts`);
  return file;
}

/** Why a file cannot be read, in words (not a bare error code). */
function unreadable(path: string, error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case "ENOENT":
      return `no such file: ${path}`;
    case "EACCES":
    case "EPERM":
      return `not allowed to read ${path} (check its permissions)`;
    case "EISDIR":
      return `${path} is a directory, not a file`;
    default:
      return `cannot read ${path}: ${error.message}`;
  }
}

/** Whether a CSV's columns can hold a contact: for enrich, names and a company, or a LinkedIn URL. */
function missingColumns(kind: "enrich" | "reverse", header: readonly string[]): string | null {
  const has = (column: string): boolean => header.includes(column);
  if (kind === "reverse") {
    return has("email") ? null : 'the CSV has no "email" column: a reverse lookup needs one email per row';
  }
  if (has("linkedin_url")) return null;
  const missing = [
    ...["first_name", "last_name"].filter((column) => !has(column)),
    ...(has("domain") || has("company_name") ? [] : ["domain or company_name"]),
  ];
  return missing.length === 0
    ? null
    : `the CSV has no ${missing.map((column) => `"${column}"`).join(", ")} column: each contact needs first_name, last_name and domain or company_name, or a linkedin_url`;
}

function parseCsv(text: string, kind: "enrich" | "reverse", options: ColumnOptions): InputFile {
  const known: readonly string[] = kind === "enrich" ? ENRICH_COLUMNS : REVERSE_COLUMNS;
  const map = options.map ?? {};
  let header: string[] = [];
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, {
      columns: (names: string[]) => {
        header = names.map((name) => map[name.trim()] ?? name.trim());
        return header;
      },
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
  for (const [column, field] of Object.entries(map)) {
    if (!known.includes(field) && !field.startsWith("custom.")) {
      throw new UsageError(
        `--map: ${column}=${field}: ${JSON.stringify(field)} is not ${mappableFields(kind)}`,
      );
    }
  }
  const unknown = header.filter((column) => !known.includes(column) && !column.startsWith("custom."));
  const missing = missingColumns(kind, header);
  if (missing !== null) {
    const hint =
      unknown.length === 0
        ? ""
        : ` (columns it has that are not API fields: ${unknown.map((column) => JSON.stringify(column)).join(", ")}; --map 'COLUMN=FIELD' reads one as a field)`;
    throw new UsageError(`--input: ${missing}${hint}`);
  }
  if (unknown.length > 0 && !options.ignoreUnknown) {
    const [first] = unknown;
    throw new UsageError(
      `--input: unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((column) => JSON.stringify(column)).join(", ")} (expected ${known.join(", ")} and custom.<key> columns). ` +
        `Pass --ignore-unknown-columns to leave ${unknown.length > 1 ? "them" : "it"} out, or --map to read ${unknown.length > 1 ? "one" : "it"} as a field, e.g. --map '${first}=custom.${slug(first as string)}'`,
    );
  }
  const rows = records.map(({ record, info }) => {
    const contact: Record<string, unknown> = {};
    const custom: Record<string, string> = {};
    for (const [column, value] of Object.entries(record)) {
      if (column.startsWith("custom.")) {
        if (value !== "") custom[column.slice("custom.".length)] = value;
      } else if (known.includes(column)) {
        if (value !== "") contact[column] = value;
      }
    }
    if (Object.keys(custom).length > 0) contact.custom = custom;
    return { line: info.lines, contact };
  });
  return { rows, ignoredColumns: unknown };
}

/** A column's name as a custom key: lower case, words joined by underscores. */
function slug(column: string): string {
  return (
    column
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "_")
      .replace(/^_|_$/g, "") || "field"
  );
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
