import type { Attributes, MeterProvider } from "@opentelemetry/api";
import {
  DataPointType,
  type MetricData,
  MetricReader,
  MeterProvider as SdkMeterProvider,
} from "@opentelemetry/sdk-metrics";

/** A metric reader that keeps nothing and exports nothing: the test collects when it wants. */
class InMemoryReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** A meter provider read in memory, and sums over what it collected. */
export interface CollectedMetrics {
  provider: MeterProvider;
  /** Collects now; the metrics by name. */
  collect(): Promise<Map<string, MetricData>>;
  /** The sum of a counter's points whose attributes include `match` (every point by default). */
  sum(metrics: Map<string, MetricData>, name: string, match?: Attributes): number;
  /** How many values a histogram recorded (points matching `match`). */
  count(metrics: Map<string, MetricData>, name: string, match?: Attributes): number;
  /** Each point's attributes and value (a sum) of a counter. */
  points(metrics: Map<string, MetricData>, name: string): { attributes: Attributes; value: number }[];
  shutdown(): Promise<void>;
}

export function inMemoryMetrics(): CollectedMetrics {
  const reader = new InMemoryReader();
  const provider = new SdkMeterProvider({ readers: [reader] });
  const matches = (attributes: Attributes, match: Attributes): boolean =>
    Object.entries(match).every(([key, value]) => attributes[key] === value);
  const points = (metrics: Map<string, MetricData>, name: string) => {
    const metric = metrics.get(name);
    if (!metric) return [];
    return metric.dataPoints.map((point) => ({
      attributes: point.attributes,
      value:
        metric.dataPointType === DataPointType.HISTOGRAM
          ? (point.value as { count: number }).count
          : (point.value as number),
    }));
  };
  const total = (metrics: Map<string, MetricData>, name: string, match: Attributes = {}) =>
    points(metrics, name)
      .filter((point) => matches(point.attributes, match))
      .reduce((sum, point) => sum + point.value, 0);
  return {
    provider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const byName = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics)
        for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      return byName;
    },
    sum: total,
    count: total,
    points,
    shutdown: () => provider.shutdown(),
  };
}
