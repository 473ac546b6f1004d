import type { Server } from "node:http";
import { connect, type Socket } from "node:net";

/**
 * A TCP client that writes what the test says when it says it, and records what comes back and
 * when the server closed: for what fetch cannot do (stop after the headers, send a byte at a time,
 * watch a connection stay silent).
 */
export interface RawClient {
  socket: Socket;
  /** Everything received so far, as latin1 text. */
  received(): string;
  /** Writes bytes unless the connection is gone; false when it could not. */
  write(data: string | Buffer): boolean;
  /** Resolves once the server closed the connection (FIN or reset), with the time it took from connecting. */
  closed: Promise<number>;
  /** Whether the connection is closed. */
  isClosed(): boolean;
  /** Resolves when `predicate` holds for what was received, or rejects once closed or after `timeoutMs`. */
  until(predicate: (text: string) => boolean, timeoutMs?: number): Promise<string>;
  destroy(): void;
}

/** Connects to 127.0.0.1:`port` and resolves once connected. */
export function openRaw(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const waiters = new Set<() => void>();
    let closedFlag = false;
    let connectedAt = 0;
    const closed = new Promise<number>((done) => {
      socket.once("close", () => {
        closedFlag = true;
        for (const wake of waiters) wake();
        done(Date.now() - connectedAt);
      });
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      for (const wake of waiters) wake();
    });
    socket.on("error", () => undefined);
    const received = (): string => Buffer.concat(chunks).toString("latin1");
    const client: RawClient = {
      socket,
      received,
      write: (data) => {
        if (socket.destroyed || !socket.writable) return false;
        socket.write(data);
        return true;
      },
      closed,
      isClosed: () => closedFlag,
      until: (predicate, timeoutMs = 5_000) =>
        new Promise((done, fail) => {
          const check = (): void => {
            const text = received();
            if (predicate(text)) {
              finish();
              done(text);
            } else if (closedFlag) {
              finish();
              fail(new Error(`connection closed; received ${JSON.stringify(text.slice(0, 200))}`));
            }
          };
          const timer = setTimeout(() => {
            finish();
            fail(
              new Error(`nothing matching within ${timeoutMs} ms; received ${JSON.stringify(received())}`),
            );
          }, timeoutMs);
          const finish = (): void => {
            clearTimeout(timer);
            waiters.delete(check);
          };
          waiters.add(check);
          check();
        }),
      destroy: () => socket.destroy(),
    };
    socket.once("connect", () => {
      connectedAt = Date.now();
      resolve(client);
    });
    socket.once("error", reject);
  });
}

/** Writes `data` every `everyMs` (a byte of `source` each time) until the connection closes or `maxSteps` passed. */
export function trickle(client: RawClient, source: string, everyMs: number, maxSteps = 400): () => void {
  let step = 0;
  const timer = setInterval(() => {
    if (client.isClosed() || step >= maxSteps || step >= source.length) {
      clearInterval(timer);
      return;
    }
    client.write(source[step] as string);
    step++;
  }, everyMs);
  return () => clearInterval(timer);
}

/** The server side of every connection a server accepts, to read `bytesRead` after the fact. */
export function trackConnections(server: Server): Socket[] {
  const sockets: Socket[] = [];
  server.on("connection", (socket: Socket) => sockets.push(socket));
  return sockets;
}

/** A request head (request line and headers, ending with the blank line). */
export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join("\r\n")}${lines.length ? "\r\n" : ""}\r\n`;
}

/** The status code of the first HTTP/1.1 response in `raw` that is not `100 Continue`, or undefined. */
export function finalStatus(raw: string): number | undefined {
  for (const match of raw.matchAll(/HTTP\/1\.[01] (\d{3})/g)) {
    if (match[1] !== "100") return Number(match[1]);
  }
  return undefined;
}
