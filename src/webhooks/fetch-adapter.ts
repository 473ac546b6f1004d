import type { ReceiveAnswer } from "./http-answer.js";
import type { WebhookReceiver } from "./receiver.js";

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array | "too-large"> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return "too-large";
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
    const body = await readLimited(request, receiver.maxBodyBytes);
    if (body === "too-large") return toResponse(receiver.reject("too-large"), true);
    return toResponse(
      await receiver.receive({ rawBody: body, headers: request.headers, method: request.method }),
    );
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
