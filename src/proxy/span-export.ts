// Spans of sampled requests to an OpenTelemetry collector over OTLP/HTTP (JSON), with
// OpenTelemetry's own exporter and batch processor. The proxy makes no spans through an SDK
// tracer: its span ids are its own (trace-context.ts), already sent upstream as the parent, so
// each finished request becomes one finished span handed to the batch processor. The processor
// queues at most MAX_QUEUE spans and drops beyond that, and exports from a timer: a request never
// waits on the collector, and a collector that is down costs dropped spans, nothing else.
//
// Loaded only with --otlp-endpoint (src/cli/proxy.ts imports it then), so a proxy without
// tracing never loads the OpenTelemetry packages.
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { AccessEntry } from './access-log.js';

/** Spans queued for export at most; more are dropped until the queue drains. */
const MAX_QUEUE = 4096;
/** How often a batch goes out (the SDK's default is 5 s; a proxy's spans are wanted sooner). */
const EXPORT_EVERY_MS = 1000;
const EXPORT_TIMEOUT_MS = 10_000;
/** On stop, how long the last batch may take to go out. */
const CLOSE_WAIT_MS = 2000;

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

export class SpanExport {
  private readonly processor: BatchSpanProcessor;
  private readonly resource;
  private readonly scope = { name: 'signalbox-proxy' };

  constructor(endpoint: string, proxyId: string) {
    this.processor = new BatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: endpoint, timeoutMillis: EXPORT_TIMEOUT_MS }),
      maxQueueSize: MAX_QUEUE,
      scheduledDelayMillis: EXPORT_EVERY_MS,
      exportTimeoutMillis: EXPORT_TIMEOUT_MS,
    });
    this.resource = resourceFromAttributes({ 'service.name': 'signalbox-proxy', 'service.instance.id': proxyId });
  }

  /**
   * The span of one finished, sampled request. `startEpochMs`: when it began; `parentId`: the
   * client's span, when it sent one.
   */
  record(entry: AccessEntry, parentId: string | null, startEpochMs: number): void {
    const { traceId, spanId } = entry;
    const attributes: Attributes = {
      'http.request.method': entry.method,
      'url.path': entry.path,
      'http.response.status_code': entry.status,
      'client.address': entry.clientIp,
      'network.protocol.version': entry.protocol,
      'signalbox.request_id': entry.requestId,
      'signalbox.config_version': entry.version,
      'signalbox.retries': entry.retries,
    };
    if (entry.host !== undefined) attributes['server.address'] = entry.host;
    if (entry.route !== undefined) attributes['signalbox.route'] = entry.route;
    if (entry.upstream !== undefined) attributes['signalbox.upstream'] = entry.upstream;
    if (entry.target !== undefined) attributes['signalbox.target'] = entry.target;
    if (entry.consumer !== undefined) attributes['signalbox.consumer'] = entry.consumer;
    if (entry.upstreamMs !== undefined) attributes['signalbox.upstream_ms'] = entry.upstreamMs;
    const span: ReadableSpan = {
      name: entry.route === undefined ? entry.method : `${entry.method} ${entry.route}`,
      kind: SpanKind.SERVER,
      spanContext: () => ({ traceId, spanId, traceFlags: TraceFlags.SAMPLED }),
      parentSpanContext: parentId === null ? undefined : { traceId, spanId: parentId, traceFlags: TraceFlags.SAMPLED, isRemote: true },
      startTime: hrTime(startEpochMs),
      endTime: hrTime(startEpochMs + entry.durationMs),
      duration: hrTime(entry.durationMs),
      // 4xx are the client's; a server span is an error for what the server did (OTel's HTTP rules).
      status: { code: entry.status >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.UNSET },
      attributes,
      links: [],
      events: [],
      ended: true,
      resource: this.resource,
      instrumentationScope: this.scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
    this.processor.onEnd(span);
  }

  /** Export what is queued, then stop (on the proxy's stop); a collector that does not answer holds the stop CLOSE_WAIT_MS at most. */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([this.processor.shutdown().catch(() => {}), waited]);
    clearTimeout(timer);
  }
}
