import type { WebhookCheck } from "../engine/webhook-check.js";
import { unreachableByProvider } from "../webhooks/reachability.js";

export { isLocalHost } from "../webhooks/reachability.js";

/**
 * A warning when the provider cannot call `webhookUrl` (a loopback or private address) while the
 * API itself is elsewhere: its webhooks would never arrive (the engine polls this run's batches
 * instead). Null when the URL looks reachable, or when the API is local too (a simulator).
 */
export function webhookReachabilityWarning(webhookUrl: string, baseUrl: string): string | null {
  if (!unreachableByProvider(webhookUrl, baseUrl)) return null;
  const hook = new URL(webhookUrl);
  return (
    `warning: --webhook-url ${hook.origin} is not a public address, so FullEnrich cannot deliver to it; ` +
    "this run's batches are polled instead. Give the public " +
    "URL that forwards to --listen (your server's, or a tunnel's), or drop --webhook-url and --listen " +
    "to poll from the start."
  );
}

/**
 * What to check when the engine's start-up check found that deliveries do not reach the receiver
 * (`engine.webhookCheck`). The engine logs the finding itself, with what was tried (a warning); this
 * adds what only the CLI knows (its flags, where it listens) and what the run does instead. Null
 * when the probe arrived, or there was no check.
 */
export function webhookCheckWarning(check: WebhookCheck | null, listening: string | null): string | null {
  if (check === null || check.arrived) return null;
  return (
    "hint: the start-up probe did not reach the receiver. Check that --webhook-url is the public " +
    `URL that forwards to --listen${listening ? ` (${listening})` : ""}: the tunnel or proxy is up, the path ` +
    "is the same, no firewall in between. This run's batches are polled instead; the webhook is still " +
    "registered, so deliveries are used as soon as they arrive."
  );
}
