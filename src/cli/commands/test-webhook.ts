import { z } from "zod";
import { signBody } from "../../webhooks/signature.js";
import { TEST_ENRICHMENT_ID } from "../../webhooks/test-delivery.js";
import { API_KEY_FLAGS, API_KEY_USAGE, resolveApiKey } from "../api-key.js";
import { flag, parseFlags } from "../flags.js";
import { type CliIo, print } from "../io.js";
import { UsageError } from "../usage-error.js";

export const TEST_WEBHOOK_USAGE = `fullenrich-rx test-webhook --url URL [--api-key-file PATH] [--kind batch|contact]

Sends a correctly signed sample delivery (the provider's format, X-Signature-SHA1 keyed with the API
key) to your own endpoint and reports its answer: to check a deployment. A 401 there usually means
another key, or a proxy that rewrites bodies (the signature covers the exact bytes). A fullenrich-rx
receiver (serve, enrich's built-in one, the adapters) verifies the sample and answers it without
storing it: the event log is left as it was.
${API_KEY_USAGE}`;

function samplePayload(kind: "batch" | "contact"): Record<string, unknown> {
  const record = (first: string, last: string, email: string) => ({
    input: {
      first_name: first,
      last_name: last,
      company_domain: "example.com",
      full_name: `${first} ${last}`,
    },
    custom: { source: "fullenrich-rx test-webhook" },
    contact_info: {
      most_probable_work_email: { email, status: "DELIVERABLE" },
      work_emails: [{ email, status: "DELIVERABLE" }],
    },
  });
  const data = [
    record("Ada", "Lovelace", "ada.lovelace@example.com"),
    record("Alan", "Turing", "alan.turing@example.com"),
  ];
  return {
    id: TEST_ENRICHMENT_ID,
    name: "fullenrich-rx test-webhook",
    status: kind === "batch" ? "FINISHED" : "IN_PROGRESS",
    cost: { credits: kind === "batch" ? 2 : 1 },
    data: kind === "batch" ? data : data.slice(0, 1),
  };
}

export async function testWebhookCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args, {
    url: { type: "string" },
    ...API_KEY_FLAGS,
    kind: { type: "string" },
  });
  if (!values.url) throw new UsageError("--url URL is required (your webhook endpoint)");
  const url = flag(
    "url",
    z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
    values.url,
  );
  const kind = flag(
    "kind",
    z.enum(["batch", "contact"], { error: "must be batch or contact" }),
    values.kind ?? "batch",
  );
  const apiKey = await resolveApiKey(values, io);
  if (!apiKey)
    throw new UsageError(
      "no API key: set FULLENRICH_API_KEY or pass --api-key-file PATH (the signature is keyed with it)",
    );
  const body = Buffer.from(JSON.stringify(samplePayload(kind)));
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature-sha1": signBody(apiKey, body) },
      body,
      signal: AbortSignal.any([io.signal, AbortSignal.timeout(15_000)]),
    });
  } catch (error) {
    print(
      io.stderr,
      `could not reach ${url}: ${(error as Error).cause ? String(((error as Error).cause as Error).message) : (error as Error).message}`,
    );
    return 1;
  }
  const text = (await response.text()).slice(0, 500);
  print(
    io.stdout,
    `${kind} delivery (${body.length} bytes) → ${response.status} ${response.statusText}${text ? `: ${text}` : ""}`,
  );
  if (response.ok) {
    print(
      io.stdout,
      /"status"\s*:\s*"test"/.test(text)
        ? "ok: your endpoint verified the delivery (a fullenrich-rx receiver: the sample was not stored)"
        : "ok: your endpoint verified and acknowledged the delivery",
    );
    return 0;
  }
  const hints: Record<number, string> = {
    401: "the signature was refused: is the endpoint configured with the same API key? Does a proxy rewrite or re-encode bodies?",
    404: "not found: check the path your receiver is mounted on",
    405: "method not allowed: the provider POSTs deliveries",
    413: "body too large for your endpoint's limit",
    503: "your receiver could not store the delivery: the provider would retry it every minute, five times",
  };
  print(
    io.stderr,
    hints[response.status] ?? "the provider retries non-2xx answers every minute, five times, then gives up",
  );
  return 1;
}
