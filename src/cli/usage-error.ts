/** Invalid usage or input: the CLI prints the message and exits with code 2, before any API call. */
export class UsageError extends Error {
  override name = "UsageError";
}
