import { SIMULATOR_API_PREFIX, type SimulatedKind } from "./options.js";

/**
 * The simulated API's routes, and the answers that do not depend on any job: JSON bodies, the
 * `{code, message}` errors, route matching (404, 405) and the Bearer check (401).
 */

/** A JSON answer. */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });

/** The provider's `{code, message}` error answer. */
export const errorBody = (status: number, code: string, message: string): Response =>
  json(status, { code, message });

/** What a GET of an unknown id answers, per kind. */
export const NOT_FOUND_CODES: Record<SimulatedKind, { code: string; message: string }> = {
  enrich: { code: "error.enrichment.not_found", message: "Enrichment ID not found" },
  reverse: { code: "error.reverse.email.not_found", message: "Reverse email ID not found" },
};

/** The operation a request asks for. */
export type RouteName = "credits" | "verify" | "startEnrich" | "getEnrich" | "startReverse" | "getReverse";

interface RouteDef {
  pattern: RegExp;
  template: string;
  methods: Partial<Record<string, RouteName>>;
}

const ROUTES: readonly RouteDef[] = [
  { pattern: /^\/account\/credits$/, template: "/account/credits", methods: { GET: "credits" } },
  { pattern: /^\/account\/keys\/verify$/, template: "/account/keys/verify", methods: { GET: "verify" } },
  {
    pattern: /^\/contact\/enrich\/bulk$/,
    template: "/contact/enrich/bulk",
    methods: { POST: "startEnrich" },
  },
  {
    pattern: /^\/contact\/enrich\/bulk\/([^/]+)$/,
    template: "/contact/enrich/bulk/{id}",
    methods: { GET: "getEnrich" },
  },
  {
    pattern: /^\/contact\/reverse\/email\/bulk$/,
    template: "/contact/reverse/email/bulk",
    methods: { POST: "startReverse" },
  },
  {
    pattern: /^\/contact\/reverse\/email\/bulk\/([^/]+)$/,
    template: "/contact/reverse/email/bulk/{id}",
    methods: { GET: "getReverse" },
  },
];

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/**
 * Where a request goes: `routeKey` is what the counters count it under (`"GET /contact/enrich/bulk/{id}"`,
 * or `"GET (unknown)"`); `refused` is the 404 or 405 to answer when the route or method does not
 * exist; else `name` and the path's `id`.
 */
export type RouteMatch =
  | { routeKey: string; refused: Response }
  | { routeKey: string; refused?: undefined; name: RouteName; id: string };

/** Matches a request's method and URL to a route. */
export function matchRoute(method: string, url: URL): RouteMatch {
  const fullPath = url.pathname.replace(/\/+$/, "");
  const path = fullPath.startsWith(`${SIMULATOR_API_PREFIX}/`)
    ? fullPath.slice(SIMULATOR_API_PREFIX.length)
    : "";
  const route = ROUTES.find((candidate) => candidate.pattern.test(path));
  if (route === undefined) {
    return {
      routeKey: `${method} (unknown)`,
      refused: errorBody(404, "error.route.not_found", `No route ${method} ${url.pathname}`),
    };
  }
  const routeKey = `${method} ${route.template}`;
  const name = route.methods[method];
  if (name === undefined) {
    return {
      routeKey,
      refused: json(
        405,
        { code: "error.method.not_allowed", message: `Method ${method} not allowed on ${route.template}` },
        { allow: Object.keys(route.methods).join(", ") },
      ),
    };
  }
  return { routeKey, name, id: safeDecode(route.pattern.exec(path)?.[1] ?? "") };
}

/** The index of the request's Bearer key in `apiKeys`, or the 401 to answer. */
export function authenticate(request: Request, apiKeys: readonly string[]): Response | number {
  const header = request.headers.get("authorization");
  if (header === null || header.trim() === "") {
    return errorBody(401, "error.authorization.not_set", "Authorization headers not set");
  }
  const match = /^bearer\s+(.*)$/i.exec(header.trim());
  if (match === null) {
    return errorBody(
      401,
      "error.authorization.not_bearer",
      "Authorization headers do not have prefix 'bearer'",
    );
  }
  const index = apiKeys.indexOf((match[1] ?? "").trim());
  if (index < 0) return errorBody(401, "error.api.key", "Unknown api key");
  return index;
}
