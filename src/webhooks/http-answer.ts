/** Header names are matched case-insensitively. */
export type HeaderBag = Headers | Record<string, string | readonly string[] | undefined>;

/** What to answer. */
export interface ReceiveAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A JSON answer. */
export function answer(
  status: number,
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
): ReceiveAnswer {
  return {
    status,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  };
}

/** Reads one header from either a `Headers` object or a Node-style header record. */
export function header(headers: HeaderBag, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | readonly string[] | undefined>;
  const lower = name.toLowerCase();
  for (const [key, value] of Object.entries(record)) {
    if (key.toLowerCase() !== lower || value === undefined) continue;
    return typeof value === "string" ? value : value[0];
  }
  return undefined;
}
