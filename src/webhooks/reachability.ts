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
 * Whether the provider cannot call `webhookUrl` because it is a loopback or private address while
 * the API itself is elsewhere (a local API, a simulator, can call it). False when either URL does
 * not parse (reported where they are parsed).
 */
export function unreachableByProvider(webhookUrl: string, baseUrl: string): boolean {
  if (!URL.canParse(webhookUrl) || !URL.canParse(baseUrl)) return false;
  return isLocalHost(new URL(webhookUrl)) && !isLocalHost(new URL(baseUrl));
}
