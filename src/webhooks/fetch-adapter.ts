import type { ReceiveAnswer, WebhookReceiver } from "./receiver.js";

async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array | "too-large"> {
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > maxBytes) return "too-large";
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

function toResponse(answer: ReceiveAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/**
 * A fetch-style handler, `(request: Request) => Promise<Response>`, for Hono, Next.js route
 * handlers, Bun and Deno.
 *
 * @example
 * ```ts
 * const handle = createFetchHandler(receiver);
 * app.post("/webhooks/fullenrich", (c) => handle(c.req.raw)); // Hono
 * ```
 */
export function createFetchHandler(receiver: WebhookReceiver): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method.toUpperCase() !== "POST") return toResponse(receiver.reject("method"));
    const body = await readLimited(request, receiver.maxBodyBytes);
    if (body === "too-large") {
      // The rest of the body is not read: ask the server to close the connection rather than drain it.
      const refused = receiver.reject("too-large");
      return toResponse({ ...refused, headers: { ...refused.headers, connection: "close" } });
    }
    return toResponse(
      await receiver.receive({ rawBody: body, headers: request.headers, method: request.method }),
    );
  };
}
