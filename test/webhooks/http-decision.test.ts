import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  announcesBody,
  type DecisionPolicy,
  decideRequest,
  type RequestHead,
  targetPath,
} from "../../src/webhooks/http-decision.js";

const PATHS = ["/webhook", "/webhook/contact"];
const HEALTH = "/healthz";
const MAX = 1000;

const path = fc.oneof(
  fc.constantFrom(...PATHS, HEALTH, "/", "/webhook/", "/WEBHOOK", "/healthz/x"),
  fc.stringMatching(/^\/[a-z/]{0,12}$/),
);
const query = fc.option(fc.stringMatching(/^[?#][a-z=&]{0,8}$/), { nil: "" });
const method = fc.constantFrom("POST", "post", "GET", "HEAD", "PUT", "DELETE", "OPTIONS");
const signature = fc.option(
  fc.oneof(
    fc.stringMatching(/^[0-9a-f]{40}$/),
    fc.stringMatching(/^[0-9A-F]{40}$/),
    fc.stringMatching(/^[0-9a-f]{39}$/),
    fc.stringMatching(/^sha1=[0-9a-f]{40}$/),
    fc.string({ maxLength: 45 }),
  ),
  { nil: undefined },
);
const contentLength = fc.option(fc.integer({ min: 0, max: 3 * MAX }), { nil: undefined });

const request = fc.record({
  method,
  path,
  query,
  signature,
  contentLength,
  routed: fc.boolean(),
  verify: fc.boolean(),
  signatureName: fc.constantFrom("x-signature-sha1", "X-Signature-SHA1"),
});

/** What the receiver must decide, written independently of the code: the rules in their order. */
type Sample = typeof request extends fc.Arbitrary<infer T> ? T : never;

function oracle(r: Sample): { action: string; status?: number } {
  const upper = r.method.toUpperCase();
  if (r.routed) {
    if (r.path === HEALTH) {
      return upper === "GET" || upper === "HEAD" ? { action: "health" } : { action: "refuse", status: 405 };
    }
    if (!PATHS.includes(r.path)) return { action: "refuse", status: 404 };
  }
  if (upper !== "POST") return { action: "refuse", status: 405 };
  if (r.verify) {
    if (r.signature === undefined) return { action: "refuse", status: 401 };
    if (!/^[0-9a-fA-F]{40}$/.test(r.signature.trim())) return { action: "refuse", status: 401 };
  }
  if (r.contentLength !== undefined && r.contentLength > MAX) return { action: "refuse", status: 413 };
  return { action: "read" };
}

describe("decideRequest", () => {
  it("agrees with the rules, in their order, for any method, path, signature and length", () => {
    fc.assert(
      fc.property(request, (r) => {
        const headers: Record<string, string> = {};
        if (r.signature !== undefined) headers[r.signatureName] = r.signature;
        if (r.contentLength !== undefined) headers["content-length"] = String(r.contentLength);
        const head: RequestHead = {
          method: r.method,
          headers,
          ...(r.routed ? { target: `${r.path}${r.query}` } : {}),
        };
        const policy: DecisionPolicy = {
          verifySignatures: r.verify,
          maxBodyBytes: MAX,
          ...(r.routed ? { routes: { paths: PATHS, healthPath: HEALTH } } : {}),
        };
        const verdict = decideRequest(head, policy);
        const expected = oracle(r);
        expect(verdict.action).toBe(expected.action);
        if (verdict.action === "refuse") {
          expect(verdict.status).toBe(expected.status);
          if (verdict.status === 405) expect(verdict.headers.allow).toMatch(/POST|GET, HEAD/);
        }
        // Headers objects (fetch) are read the same way as Node's header records.
        expect(decideRequest({ ...head, headers: new Headers(headers) }, policy)).toEqual(verdict);
      }),
      { numRuns: 2_000 },
    );
  });

  it("reads a request only when it can be a signed delivery of an allowed size", () => {
    const policy = { verifySignatures: true, maxBodyBytes: MAX, routes: { paths: PATHS, healthPath: null } };
    const read = decideRequest(
      { method: "POST", target: "/webhook?x=1", headers: { "x-signature-sha1": "a".repeat(40) } },
      policy,
    );
    expect(read).toEqual({ action: "read" });
    // With no health path, /healthz is just another unknown path.
    expect(decideRequest({ method: "GET", target: "/healthz", headers: {} }, policy)).toMatchObject({
      action: "refuse",
      reason: "not-found",
    });
  });
});

describe("targetPath", () => {
  it("drops the query and fragment, and the scheme and host of an absolute target", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\/[a-zA-Z0-9/._~-]{0,20}$/), query, (p, q) => {
        expect(targetPath(`${p}${q}`)).toBe(p);
        expect(targetPath(`http://example.com:8080${p}${q}`)).toBe(p);
      }),
    );
    expect(targetPath("http://example.com")).toBe("/");
  });
});

describe("announcesBody", () => {
  it("is true for a positive length or a transfer encoding, false otherwise", () => {
    expect(announcesBody({ "content-length": "10" })).toBe(true);
    expect(announcesBody({ "transfer-encoding": "chunked" })).toBe(true);
    expect(announcesBody({ "content-length": "0" })).toBe(false);
    expect(announcesBody({})).toBe(false);
  });
});
