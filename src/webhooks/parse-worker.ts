/*
 * The parse thread's worker (see parse-thread.ts): parses the stored deliveries it is sent into
 * their outcome events, off the thread that answers the provider. It runs from the compiled
 * package only (dist/webhooks/parse-worker.js): a plain Node worker cannot load TypeScript.
 */
import { parentPort } from "node:worker_threads";
import type { StoredDelivery } from "./delivery-events.js";
import { parseStored } from "./delivery-events.js";
import { decodeUtf8Exactly } from "./delivery-payload.js";
import type { FromParseWorker, ParseRequest, WireDelivery } from "./parse-thread.js";

/** The stored delivery a request describes: its body as stored, decoded here from the bytes when sent as such. */
function storedOf(wire: WireDelivery): StoredDelivery {
  const body = wire.body ?? (wire.bytes === undefined ? undefined : decodeUtf8Exactly(wire.bytes));
  if (body === undefined) throw new Error("a stored delivery came without its body");
  return { ...wire.fields, body };
}

const port = parentPort;
if (port === null) throw new Error("parse-worker.js runs as a worker thread only");
port.on("message", (request: ParseRequest) => {
  const reply: FromParseWorker = {
    type: "outcomes",
    id: request.id,
    outcomes: request.deliveries.map((wire) => {
      try {
        return parseStored(storedOf(wire), wire.position);
      } catch (error) {
        return { error: error instanceof Error ? error.message : String(error) };
      }
    }),
  };
  port.postMessage(reply);
});
// Its modules are loaded (this runs after every import): batches are parsed here from now on.
const ready: FromParseWorker = { type: "ready" };
port.postMessage(ready);
