import { BlockList, isIP } from "node:net";

/** Addresses the provider's servers cannot reach: loopback, private, link-local, unspecified. */
const NOT_PUBLIC = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
] as const) {
  NOT_PUBLIC.addSubnet(network, prefix, "ipv6");
}

/** Whether a URL's host is a name or address only this machine or its network can reach. */
export function isLocalHost(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const family = isIP(host);
  if (family === 4) return NOT_PUBLIC.check(host, "ipv4");
  if (family === 6) return NOT_PUBLIC.check(host, "ipv6");
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    host.endsWith(".local") ||
    host.endsWith(".internal") ||
    !host.includes(".")
  );
}

/**
 * A warning when the provider cannot call `webhookUrl` (a loopback or private address) while the
 * API itself is elsewhere: its webhooks would never arrive, and every result would wait for the
 * polling fallback. Null when the URL looks reachable, or when the API is local too (a simulator).
 */
export function webhookReachabilityWarning(webhookUrl: string, baseUrl: string): string | null {
  if (!URL.canParse(webhookUrl) || !URL.canParse(baseUrl)) return null; // reported where they are parsed
  const hook = new URL(webhookUrl);
  if (!isLocalHost(hook) || isLocalHost(new URL(baseUrl))) return null;
  return (
    `warning: --webhook-url ${hook.origin} is not a public address, so FullEnrich cannot deliver to it; ` +
    "every result would wait for the polling fallback (about 7 minutes after each batch). Give the public " +
    "URL that forwards to --listen (your server's, or a tunnel's), or drop --webhook-url and --listen " +
    "to poll from the start."
  );
}
