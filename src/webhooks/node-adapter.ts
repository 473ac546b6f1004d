import type { IncomingMessage, ServerResponse } from "node:http";
import type { ReceiveAnswer, WebhookReceiver } from "./receiver.js";

/**
 * Reads a request body up to `maxBytes`. Resolves with the bytes, or `"too-large"` as soon as the
 * declared or received length goes over the limit (the rest is not read).
 */
export function readNodeBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | "too-large"> {
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve("too-large");
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        resolve("too-large");
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/** Writes an answer. A refused, unread body closes the connection after the answer. */
export function writeNodeAnswer(res: ServerResponse, answer: ReceiveAnswer, closeAfter = false): void {
  const headers = closeAfter ? { ...answer.headers, connection: "close" } : answer.headers;
  res.writeHead(answer.status, headers);
  res.end(answer.body);
  if (closeAfter) res.once("finish", () => res.req.socket?.destroySoon?.());
}

/** Reads, hands over to the receiver and answers: the whole node:http path. */
export async function handleNodeRequest(
  receiver: WebhookReceiver,
  req: IncomingMessage,
  res: ServerResponse,
  preRead?: Buffer,
): Promise<void> {
  if ((req.method ?? "GET").toUpperCase() !== "POST") {
    req.resume();
    writeNodeAnswer(res, receiver.reject("method"));
    return;
  }
  const body = preRead ?? (await readNodeBody(req, receiver.maxBodyBytes));
  if (body === "too-large") {
    writeNodeAnswer(res, receiver.reject("too-large"), true);
    return;
  }
  writeNodeAnswer(
    res,
    await receiver.receive({ rawBody: body, headers: req.headers, method: req.method ?? "POST" }),
  );
}

/**
 * A node:http request listener for the receiver.
 *
 * @example
 * ```ts
 * http.createServer(createNodeListener(receiver)).listen(8080);
 * ```
 */
export function createNodeListener(
  receiver: WebhookReceiver,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handleNodeRequest(receiver, req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `could not read the delivery: ${(error as Error).message}` }));
      } else {
        res.destroy();
      }
    });
  };
}
