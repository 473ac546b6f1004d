import type { BodyLease } from "./body-budget.js";
import type { ReceiveAnswer } from "./http-answer.js";
import type { WebhookReceiver } from "./receiver.js";

async function readLimited(
  request: Request,
  maxBytes: number,
  lease: BodyLease,
): Promise<Uint8Array | "too-large" | "busy"> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    const refused = size > maxBytes ? "too-large" : lease.grow(value.byteLength) ? null : "busy";
    if (refused) {
      await reader.cancel().catch(() => undefined);
      return refused;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

/** The Response of an answer; `close`: the body is left unread, so ask the server to close the connection. */
function toResponse(answer: ReceiveAnswer, close = false): Response {
  const headers = close ? { ...answer.headers, connection: "close" } : answer.headers;
  return new Response(answer.body, { status: answer.status, headers });
}

/**
 * A fetch-style handler, `(request: Request) => Promise<Response>`, for Hono, Next.js route
 * handlers, Bun and Deno. Routing is the framework's. What cannot be a delivery is refused from the
 * headers alone, without reading the body.
 *
 * @example
 * ```ts
 * const handle = createFetchHandler(receiver);
 * app.post("/webhooks/fullenrich", (c) => handle(c.req.raw)); // Hono
 * ```
 */
export function createFetchHandler(receiver: WebhookReceiver): (request: Request) => Promise<Response> {
  return async (request) => {
    const decision = receiver.decide({ method: request.method, headers: request.headers });
    if (decision.action === "answer") return toResponse(decision.answer, decision.close);
    if (decision.action === "health") return toResponse(await receiver.health());
    const lease = receiver.bodyBudget.lease();
    try {
      const body = await readLimited(request, receiver.maxBodyBytes, lease);
      if (body === "too-large" || body === "busy") return toResponse(receiver.reject(body), true);
      return toResponse(
        await receiver.receive({ rawBody: body, headers: request.headers, method: request.method }),
      );
    } finally {
      lease.release();
    }
  };
}

/**
 * A fetch-style handler for the health probe: 200 with the store's state when deliveries can be
 * stored, 503 otherwise ({@link WebhookReceiver.health}).
 *
 * @example
 * ```ts
 * app.get("/healthz", createFetchHealthHandler(receiver)); // Hono
 * ```
 */
export function createFetchHealthHandler(receiver: WebhookReceiver): () => Promise<Response> {
  return async () => toResponse(await receiver.health());
}
