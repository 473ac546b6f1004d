import { createServer } from "node:http";
import type { MeterProvider } from "@opentelemetry/api";
import { listen } from "./runtime.js";

/** A Prometheus scrape endpoint: the meter provider to give the components, and how to stop it. */
export interface MetricsEndpoint {
  provider: MeterProvider;
  /** `http://HOST:PORT/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the metrics recorded through the returned provider at `GET /metrics`, in Prometheus's
 * text format (the OpenTelemetry Prometheus exporter; its SDK is loaded only when asked for). A
 * busy port fails with a message naming the flag.
 */
export async function startMetricsEndpoint(address: {
  host: string;
  port: number;
}): Promise<MetricsEndpoint> {
  const [{ PrometheusExporter }, { MeterProvider: SdkMeterProvider }] = await Promise.all([
    import("@opentelemetry/exporter-prometheus"),
    import("@opentelemetry/sdk-metrics"),
  ]);
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new SdkMeterProvider({ readers: [exporter] });
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").replace(/\?.*$/, "");
    if (request.method === "GET" && path === "/metrics") {
      exporter.getMetricsRequestHandler(request, response);
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" }).end("metrics are at GET /metrics\n");
  });
  let listening: string;
  try {
    listening = await listen(server, address.host, address.port, "--metrics HOST:PORT");
  } catch (error) {
    await provider.shutdown();
    throw error;
  }
  return {
    provider,
    url: `http://${hostPortText(listening)}/metrics`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await provider.shutdown();
    },
  };
}

/** `::1:9464` → `[::1]:9464`; `127.0.0.1:9464` as is. */
function hostPortText(listening: string): string {
  const at = listening.lastIndexOf(":");
  const host = listening.slice(0, at);
  return host.includes(":") ? `[${host}]${listening.slice(at)}` : listening;
}
