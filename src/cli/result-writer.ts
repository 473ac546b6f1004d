import { createWriteStream } from "node:fs";
import { dirname } from "node:path";
import type { Writable } from "node:stream";
import { stringify } from "csv-stringify/sync";
import type { ContactResult } from "../engine/contact-result.js";
import { makePrivateDirectory, PRIVATE_FILE_MODE, warnIfSharedFile } from "./private-file.js";

export type OutputFormat = "jsonl" | "csv";

/** The JSON Lines record of one result: what `--out` holds, one line per input contact. */
export function resultLine(result: ContactResult): Record<string, unknown> {
  const { custom: _inputCustom, ...input } = result.input ?? {};
  return {
    enrichment_id: result.enrichmentId,
    contact_key: result.contactKey,
    custom: result.custom,
    input,
    contact_info: result.contactInfo,
    profile: result.profile,
    status: result.status,
    source: result.source,
  };
}

const ENRICH_INPUT = ["first_name", "last_name", "domain", "company_name", "linkedin_url"];

function csvHeader(kind: "enrich" | "reverse", customKeys: readonly string[]): string[] {
  return [
    "enrichment_id",
    "contact_key",
    "status",
    "source",
    ...(kind === "enrich" ? ENRICH_INPUT : ["email"]),
    ...customKeys.map((key) => `custom.${key}`),
    "work_email",
    "work_email_status",
    "personal_email",
    "personal_email_status",
    "phone",
    "phone_region",
    "full_name",
    "headline",
  ];
}

function csvRow(result: ContactResult, kind: "enrich" | "reverse", customKeys: readonly string[]): string[] {
  const input = result.input ?? {};
  const info = result.contactInfo;
  const profile = result.profile ?? {};
  const text = (value: unknown): string => (typeof value === "string" ? value : "");
  return [
    result.enrichmentId,
    result.contactKey,
    result.status,
    result.source,
    ...(kind === "enrich" ? ENRICH_INPUT : ["email"]).map((field) => text(input[field])),
    ...customKeys.map((key) => result.custom[key] ?? ""),
    text(info?.most_probable_work_email?.email),
    text(info?.most_probable_work_email?.status),
    text(info?.most_probable_personal_email?.email),
    text(info?.most_probable_personal_email?.status),
    text(info?.most_probable_phone?.number),
    text(info?.most_probable_phone?.region),
    text(profile.full_name),
    text(profile.headline),
  ];
}

/** Writes results to `--out` as they arrive: JSON Lines, or a flat CSV of the main fields. */
export class ResultWriter {
  private constructor(
    private readonly stream: Writable,
    /** Whether closing ends the stream (a file) or leaves it open (stdout). */
    private readonly owned: boolean,
    private readonly format: OutputFormat,
    private readonly kind: "enrich" | "reverse",
    private readonly customKeys: readonly string[],
  ) {}

  /**
   * Creates (or truncates) the file; the CSV header uses the custom keys of the input. Results are
   * personal data: a new file is created owner-only (0600), in directories created owner-only
   * (0700); an existing file keeps its mode, and `warn` is told once when others can read it.
   */
  static async open(
    path: string,
    format: OutputFormat,
    kind: "enrich" | "reverse",
    customKeys: readonly string[],
    warn: (line: string) => void = () => undefined,
  ): Promise<ResultWriter> {
    await makePrivateDirectory(dirname(path));
    const stream = createWriteStream(path, { flags: "w", mode: PRIVATE_FILE_MODE });
    const fd = await new Promise<number>((resolve, reject) => {
      stream.once("open", resolve);
      stream.once("error", reject);
    });
    // The check is advice: a failing stat does not stop the run.
    await warnIfSharedFile(fd, path, "contact results, personal data", warn).catch(() => undefined);
    return new ResultWriter(stream, true, format, kind, customKeys).start();
  }

  /** Writes to a stream the caller owns (`--out -`: stdout); closing leaves it open. */
  static to(
    stream: Writable,
    format: OutputFormat,
    kind: "enrich" | "reverse",
    customKeys: readonly string[],
  ): ResultWriter {
    return new ResultWriter(stream, false, format, kind, customKeys).start();
  }

  private start(): this {
    if (this.format === "csv") this.stream.write(stringify([csvHeader(this.kind, this.customKeys)]));
    return this;
  }

  write(result: ContactResult): void {
    this.stream.write(
      this.format === "jsonl"
        ? `${JSON.stringify(resultLine(result))}\n`
        : stringify([csvRow(result, this.kind, this.customKeys)]),
    );
  }

  close(): Promise<void> {
    if (!this.owned) {
      // Flushed, not ended: stdout stays usable.
      return new Promise((resolve) => {
        if (this.stream.writableNeedDrain) this.stream.once("drain", () => resolve());
        else resolve();
      });
    }
    return new Promise((resolve, reject) => {
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }
}
