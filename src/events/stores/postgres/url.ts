/**
 * Splits a `postgres://` URL into what `pg` connects with (without our `schema` parameter), the
 * schema parameter, and the URL as shown in messages (without the password). @internal
 */
export function parsePostgresUrl(url: string): {
  connectionString: string;
  location: string;
  schemaParameter: string | undefined;
} {
  if (typeof url !== "string" || !/^postgres(ql)?:\/\//i.test(url)) {
    throw new RangeError(
      `expected a postgres:// URL, got ${typeof url === "string" ? redactUrl(url) : typeof url}`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`not a valid PostgreSQL URL: ${redactUrl(url)}`);
  }
  const schemaParameter = parsed.searchParams.get("schema") ?? undefined;
  parsed.searchParams.delete("schema");
  const connectionString = parsed.toString();
  return { connectionString, location: redactUrl(connectionString), schemaParameter };
}

/** `url` with its password (in the user info or a `password` parameter) replaced by `***`. @internal */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***");
    return parsed.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, "//***@").replace(/([?&]password=)[^&]*/gi, "$1***");
  }
}
