import { COLOURS, callBuckets, callsSvg, delaySvg, TIMELINE_ROWS, timelineSvg } from "./charts.js";
import { esc, formatSpan, percent, utc } from "./format.js";
import type { RunLog } from "./run-log.js";

/** What the report is drawn against: the account's rate limit and window, and where the log is. */
export interface ReportSettings {
  store: string;
  rateLimit: number;
  windowMs: number;
  /** When the report was written. */
  writtenAt: number;
}

/** The most calls that started within any window of `windowMs` (sliding). */
export function busiestWindow(calls: readonly { at: number }[], windowMs: number): number {
  const times = calls.map((call) => call.at).sort((a, b) => a - b);
  let most = 0;
  let first = 0;
  for (let last = 0; last < times.length; last++) {
    while ((times[last] as number) - (times[first] as number) >= windowMs) first++;
    most = Math.max(most, last - first + 1);
  }
  return most;
}

/** A figure the page shows, marked so that a test (or a script) can read it back. */
function metric(name: string, value: number | string): string {
  return `<span data-metric="${esc(name)}">${esc(value)}</span>`;
}

function card(title: string, name: string, value: number | string, note = ""): string {
  return `<div class="card"><div class="card-title">${esc(title)}</div><div class="card-value">${metric(name, value)}</div>${note ? `<div class="card-note">${note}</div>` : ""}</div>`;
}

function swatch(colour: string, text: string): string {
  return `<span class="key"><i style="background:${colour}"></i>${esc(text)}</span>`;
}

/** A table of labelled counts with a bar each (the bar is the count's share of `total`). */
function countsTable(
  rows: { label: string; name: string; value: number; colour: string; note?: string }[],
  total: number,
): string {
  const body = rows
    .map(
      (row) =>
        `<tr><th scope="row">${esc(row.label)}</th><td class="num">${metric(row.name, row.value)}</td><td class="bar-cell"><div class="bar" style="width:${percent(row.value, total)}%;background:${row.colour}"></div></td><td class="note">${row.note ?? ""}</td></tr>`,
    )
    .join("");
  return `<table class="counts"><tbody>${body}</tbody></table>`;
}

function resultsSection(log: RunLog): string {
  const { results } = log;
  const statuses = Object.entries(results.byStatus)
    .sort((a, b) => b[1] - a[1])
    .map(([status, count]) => `${metric(`results.status.${status}`, count)} ${esc(status)}`)
    .join(", ");
  return `<section><h2>Results by source</h2>
<p>Each contact once, by the way its result first arrived. Found something: ${metric("results.found", results.found)} of ${results.total}; statuses: ${statuses || "none"}.${results.reused > 0 ? ` Rows taken from the log by a rerun (no call, no wait): ${metric("results.reused", results.reused)}.` : ""}</p>
${countsTable(
  [
    {
      label: "by webhook, per-contact event",
      name: "results.via.contact-event",
      value: results.byVia["contact-event"],
      colour: COLOURS.webhook,
    },
    {
      label: "by webhook, batch event",
      name: "results.via.batch-event",
      value: results.byVia["batch-event"],
      colour: COLOURS.webhook,
    },
    { label: "by poll", name: "results.via.poll", value: results.byVia.poll, colour: COLOURS.poll },
  ],
  results.total,
)}</section>`;
}

function deliveriesSection(log: RunLog): string {
  const d = log.deliveries;
  const stored = d.batchEvents + d.contactEvents;
  return `<section><h2>Webhook deliveries by outcome</h2>
<p>Signed deliveries, stored before they were acknowledged. Deliveries refused at the door (a bad or missing signature, another path or method, too large) and retries of a delivery already stored are answered without being stored: the receiver's counters (<code>serve</code> logs them once a minute) count those.</p>
${countsTable(
  [
    { label: "batch events stored", name: "deliveries.batch", value: d.batchEvents, colour: COLOURS.webhook },
    {
      label: "per-contact events stored",
      name: "deliveries.contact",
      value: d.contactEvents,
      colour: COLOURS.webhook,
    },
    {
      label: "quarantined (signed, not parseable)",
      name: "deliveries.quarantined",
      value: d.quarantined,
      colour: COLOURS.failed,
    },
    {
      label: "quarantined, parsed again later",
      name: "deliveries.reprocessed",
      value: d.reprocessed,
      colour: COLOURS.read,
    },
  ],
  Math.max(stored + d.quarantined, 1),
)}
<p>Contacts in those deliveries: ${metric("deliveries.newContacts", d.newContacts)} seen for the first time (emitted), ${metric("deliveries.duplicateContacts", d.duplicateContacts)} seen again (a provider retry, or both a contact's own event and its batch's: recorded, never emitted twice).</p></section>`;
}

function quarantineSection(log: RunLog): string {
  const items = log.quarantined;
  if (items.length === 0)
    return `<section><h2>Quarantined deliveries</h2><p class="ok">None: every stored delivery could be read.</p></section>`;
  const rows = items
    .slice(0, 200)
    .map(
      (item) =>
        `<tr><td class="num">${item.position}</td><td>${esc(utc(item.receivedAt))}</td><td>${esc(item.reason)}</td><td><code>${esc(item.digest.slice(0, 12))}…</code></td><td class="num">${item.bytes}</td><td>${item.reprocessed ? "parsed again" : "<strong>waiting</strong>"}</td></tr>`,
    )
    .join("");
  const more =
    items.length > 200
      ? `<p>… and ${items.length - 200} more (<code>fullenrich-rx status</code> lists them all).</p>`
      : "";
  return `<section><h2>Quarantined deliveries</h2>
<p>Signed and stored, but not of a shape this version reads: kept as received (bodies are not shown here: they may hold personal data). After an upgrade, <code>fullenrich-rx reprocess</code> parses them again.</p>
<table class="list" data-metric-table="quarantined"><thead><tr><th>position</th><th>received</th><th>why</th><th>sha256</th><th>bytes</th><th></th></tr></thead><tbody>${rows}</tbody></table>${more}</section>`;
}

function delaySection(log: RunLog): string {
  const { delays } = log;
  if (delays.count === 0) return `<section><h2>Delay distribution</h2><p>No results yet.</p></section>`;
  const p50 = delays.quantileBin(0.5);
  const p95 = delays.quantileBin(0.95);
  const range = (bin: ReturnType<typeof delays.quantileBin>): string =>
    bin === null
      ? "–"
      : bin.to === null
        ? `over ${formatSpan(bin.from)}`
        : `${formatSpan(bin.from)}–${formatSpan(bin.to)}`;
  return `<section><h2>Delay distribution</h2>
<p>From a batch's POST to each of its contacts' results (the provider takes 30–90 s a contact; polling adds its wait, a lost webhook its deadline). ${metric("delays.count", delays.count)} results: fastest ${formatSpan(delays.min ?? 0)}, mean ${formatSpan(delays.mean() ?? 0)}, slowest ${formatSpan(delays.max ?? 0)}; half within ${range(p50)}, 95 % within ${range(p95)}.</p>
<div class="legend">${swatch(COLOURS.webhook, "by webhook")}${swatch(COLOURS.poll, "by poll")}</div>
${delaySvg(delays)}</section>`;
}

function callsSection(log: RunLog, settings: ReportSettings): string {
  const { calls } = log;
  const window = settings.windowMs === 60_000 ? "minute" : `${formatSpan(settings.windowMs)} window`;
  if (calls.length === 0 || log.span === null)
    return `<section><h2>API calls per ${esc(window)}</h2><p>No API call recorded.</p></section>`;
  const from = calls.reduce((least, call) => Math.min(least, call.at), log.span.from);
  const to = calls.reduce((most, call) => Math.max(most, call.at), log.span.to);
  const buckets = callBuckets(calls, from, to, settings.windowMs);
  const kinds = { submit: 0, read: 0, poll: 0 };
  for (const call of calls) kinds[call.priority]++;
  const busiest = busiestWindow(calls, settings.windowMs);
  const scope =
    log.jobId === null
      ? ""
      : " Calls are not recorded by job: these are every call of the log during this job's time span.";
  return `<section><h2>API calls per ${esc(window)}, against the limit</h2>
<p>${metric("calls.total", calls.length)} calls: submissions ${metric("calls.submit", kinds.submit)}, polls ${metric("calls.poll", kinds.poll)}, other reads ${metric("calls.read", kinds.read)}. The busiest sliding ${esc(window)} held ${metric("calls.busiest", busiest)} of the ${metric("calls.limit", settings.rateLimit)} allowed.${scope}</p>
<div class="legend">${swatch(COLOURS.submit, "submissions")}${swatch(COLOURS.poll, "polls")}${swatch(COLOURS.read, "other reads")}${swatch(COLOURS.limit, "the account's limit")}</div>
${callsSvg(buckets, settings.rateLimit, settings.windowMs)}</section>`;
}

function timelineSection(log: RunLog): string {
  if (log.batches.length === 0)
    return `<section><h2>Timeline of batches</h2><p>No batch was sent.</p></section>`;
  const more =
    log.batches.length > TIMELINE_ROWS
      ? `<p>The first ${TIMELINE_ROWS} of ${log.batches.length} batches; <code>--job ID</code> shows one job's.</p>`
      : "";
  return `<section><h2>Timeline of batches</h2>
<p>One row per batch (its name, number and contacts): sent, then running at the provider until its end; results as they arrived; hover a row for its story.</p>
<div class="legend">${swatch(COLOURS.sent, "POST until accepted")}${swatch(COLOURS.waitWebhook, "waiting for its webhook")}${swatch(COLOURS.waitPoll, "running, polled")}${swatch(COLOURS.webhook, "result / end by webhook")}${swatch(COLOURS.poll, "result / end by poll; ticks: polls")}${swatch(COLOURS.fallback, "polling took over")}${swatch(COLOURS.failed, "refused or failed")}</div>
${timelineSvg(log)}${more}</section>`;
}

const CSS = `
:root{color-scheme:light}
body{margin:0;background:#f8fafc;color:#0f172a;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 8px}
.sub{color:#475569;margin:0 0 20px}
section{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:16px 18px;margin:0 0 18px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin:0 0 18px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:10px 14px}
.card-title{color:#475569;font-size:13px}.card-value{font-size:26px;font-weight:650}.card-note{color:#64748b;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:4px 0 8px;font-size:13px;color:#334155}
.key i{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;vertical-align:-1px}
svg.chart{display:block;max-width:100%;height:auto}
svg .tick{font-size:11px;fill:${COLOURS.axis}}svg .label{font-size:12px;fill:#1e293b}svg .limit{fill:${COLOURS.limit}}
svg .batch:hover rect,svg .batch:hover line{opacity:.8}
table{border-collapse:collapse;width:100%}
.counts th{text-align:left;font-weight:500;width:34%;padding:4px 8px 4px 0}
.counts td{padding:4px 8px}.num{text-align:right;font-variant-numeric:tabular-nums;width:70px}
.bar-cell{width:45%}.bar{height:12px;border-radius:3px;min-width:1px}
.note{color:#64748b;font-size:13px}
.list th,.list td{border-bottom:1px solid #e2e8f0;padding:4px 8px;text-align:left;font-size:14px}
.ok{color:#15803d}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f5f9;padding:1px 4px;border-radius:4px}
footer{color:#64748b;font-size:13px}
`;

/** The whole report: one self-contained HTML page (inline CSS and SVG; it loads nothing). */
export function reportHtml(log: RunLog, settings: ReportSettings): string {
  const jobs = [...log.jobs.entries()];
  const title =
    log.jobId === null ? "fullenrich-rx run report" : `fullenrich-rx report: ${jobs[0]?.[1] ?? log.jobId}`;
  const scope =
    log.jobId === null
      ? `${jobs.length} job${jobs.length === 1 ? "" : "s"} in the log`
      : `job <code>${esc(log.jobId)}</code>`;
  const when =
    log.span === null
      ? "nothing sent yet"
      : `from ${esc(utc(log.span.from))}, over ${esc(formatSpan(log.span.to - log.span.from))}`;
  const contacts = log.batches.reduce((sum, batch) => sum + batch.contacts, 0);
  const polls = log.polls.pending + log.polls.done;
  const fallbacks = Object.entries(log.fallbacks)
    .map(([reason, count]) => `${count} ${esc(reason)}`)
    .join(", ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${CSS}</style></head>
<body><main>
<h1>${esc(title)}</h1>
<p class="sub">${scope}, ${when}. Event log <code>${esc(settings.store)}</code>, ${metric("events", log.events)} events.</p>
<div class="cards">
${card("contacts resolved", "results.total", log.results.total, `of ${contacts} sent`)}
${card("by webhook", "results.webhook", log.results.bySource.webhook)}
${card("by poll", "results.poll", log.results.bySource.poll)}
${card("batches", "batches", log.batches.length)}
${card("polls", "polls", polls, fallbacks ? `polling took over: ${fallbacks}` : "")}
${card("credits", "credits", log.credits)}
</div>
${timelineSection(log)}
${delaySection(log)}
${callsSection(log, settings)}
${resultsSection(log)}
${deliveriesSection(log)}
${quarantineSection(log)}
<footer>Written ${esc(utc(settings.writtenAt))} by <code>fullenrich-rx report</code> from the event log alone; times are the recording process's clock.</footer>
</main></body></html>
`;
}
