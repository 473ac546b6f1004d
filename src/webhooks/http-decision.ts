import { type HeaderBag, header } from "./http-answer.js";
import { SIGNATURE_HEADER } from "./signature.js";

/**
 * Why a request was refused: before its body was read (method, path, signature header, declared
 * length), while it streamed (too large; `busy`: the bodies held at once reached their budget), or
 * after (signature, malformed).
 */
export type RejectionReason =
  | "method"
  | "not-found"
  | "too-large"
  | "busy"
  | "missing-signature"
  | "bad-signature"
  | "malformed";

/** What an adapter knows of a request once its headers have arrived, before any byte of its body. */
export interface RequestHead {
  /** The HTTP method. */
  method: string | undefined;
  /**
   * The request target as received (`/webhook?x=1`), for an adapter that routes itself (node:http).
   * Leave it out where the framework already routed the request (Express, fetch handlers).
   */
  target?: string | undefined;
  headers: HeaderBag;
}

/** The paths a self-routing adapter answers. */
export interface DeliveryRoutes {
  /** Paths deliveries are POSTed to, matched exactly (the query string is ignored); others get 404. */
  paths: readonly string[];
  /** Path of the health probe (`GET`/`HEAD`), or null for none. */
  healthPath: string | null;
}

/** What the decision depends on besides the request. */
export interface DecisionPolicy {
  verifySignatures: boolean;
  maxBodyBytes: number;
  /** Present for adapters that route themselves; absent where the framework routed the request. */
  routes?: DeliveryRoutes | undefined;
}

/**
 * The decision taken on a request's head:
 * - `read`: it can be a valid delivery, so its body is read (and `100 Continue` sent if asked for);
 * - `health`: the health probe;
 * - `refuse`: answer now, without reading the body.
 */
export type RequestVerdict =
  | { action: "read" }
  | { action: "health" }
  | {
      action: "refuse";
      reason: RejectionReason;
      status: number;
      message: string;
      headers: Record<string, string>;
    };

/** The shape of a signature: 40 hexadecimal digits (HMAC-SHA1), either case. */
const SIGNATURE_SHAPE = /^[0-9a-fA-F]{40}$/;

/** The path of a request target: origin form (`/a?b`) or absolute form (`http://host/a?b`). */
export function targetPath(target: string): string {
  const query = target.search(/[?#]/);
  const withoutQuery = query === -1 ? target : target.slice(0, query);
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(withoutQuery);
  if (!absolute) return withoutQuery;
  return withoutQuery.slice(absolute[0].length) || "/";
}

/** Whether the request announces a body (a content length above 0, or a transfer encoding). */
export function announcesBody(headers: HeaderBag): boolean {
  const length = header(headers, "content-length");
  if (length !== undefined && length.trim() !== "" && Number(length) !== 0) return true;
  return header(headers, "transfer-encoding") !== undefined;
}

function refuse(
  reason: RejectionReason,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): RequestVerdict {
  return { action: "refuse", reason, status, message, headers };
}

/**
 * Every decision that can be taken from a request's method, path and headers, in one place and
 * free of any framework, so that each adapter only reads, writes and closes. In this order:
 * the health probe; an unknown path (404); a method other than POST (405); a missing signature
 * header, or one that is not 40 hex digits (401); a declared `Content-Length` over the limit (413).
 * What passes may be a valid delivery: its body is read (the size is checked again while it
 * streams) and handed to {@link WebhookReceiver.receive}, which verifies the signature itself.
 */
export function decideRequest(head: RequestHead, policy: DecisionPolicy): RequestVerdict {
  const method = (head.method ?? "GET").toUpperCase();
  const { routes } = policy;
  if (routes && head.target !== undefined) {
    const path = targetPath(head.target);
    if (routes.healthPath !== null && path === routes.healthPath) {
      if (method === "GET" || method === "HEAD") return { action: "health" };
      return refuse("method", 405, "method not allowed: the health probe answers GET and HEAD", {
        allow: "GET, HEAD",
      });
    }
    if (!routes.paths.includes(path)) return refuse("not-found", 404, "not found");
  }
  if (method !== "POST") {
    return refuse("method", 405, "method not allowed: deliveries are POSTed", { allow: "POST" });
  }
  if (policy.verifySignatures) {
    const signature = header(head.headers, SIGNATURE_HEADER);
    if (signature === undefined)
      return refuse("missing-signature", 401, `missing ${SIGNATURE_HEADER} header`);
    if (!SIGNATURE_SHAPE.test(signature.trim())) {
      return refuse("bad-signature", 401, `malformed ${SIGNATURE_HEADER} header: expected 40 hex digits`);
    }
  }
  const declared = Number(header(head.headers, "content-length"));
  if (Number.isFinite(declared) && declared > policy.maxBodyBytes) {
    return refuse("too-large", 413, `body larger than ${policy.maxBodyBytes} bytes`);
  }
  return { action: "read" };
}
