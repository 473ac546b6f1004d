#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `ingest-bench.mjs --profile`): self time by function, and
// inclusive time of the receiver's stages.
// Usage: node benchmarks/webhooks/summarize-profile.mjs benchmarks/results/profiles/receiver-3kb.cpuprofile [top]

import { readFileSync } from "node:fs";
import { basename } from "node:path";

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: summarize-profile.mjs FILE.cpuprofile [top]");
  process.exit(2);
}
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

// Self time per node from the samples and their time deltas.
const self = new Map();
profile.samples.forEach((id, index) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000);
});
const total = [...self.values()].reduce((sum, ms) => sum + ms, 0);

const label = (node) => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${basename(url)}:${lineNumber + 1}` : "";
  return `${functionName || "(anonymous)"} ${where}`.trim();
};

const bySelf = new Map();
for (const [id, ms] of self) {
  const key = label(nodes.get(id));
  bySelf.set(key, (bySelf.get(key) ?? 0) + ms);
}
console.log(`${file}: ${total.toFixed(0)} ms sampled\n\nself time, top ${top}:`);
for (const [key, ms] of [...bySelf].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${((100 * ms) / total).toFixed(1).padStart(6)}%  ${ms.toFixed(0).padStart(6)} ms  ${key}`);
}

// Inclusive time of stages: a sample counts for a stage when the stage is on its stack. better-sqlite3
// runs statements natively, so SQLite's own time (the COMMIT's fsync included) shows up as the self
// time of the JavaScript function that ran them (commitGroup, insert).
const STAGES = [
  ["(idle)", (node) => node.callFrame.functionName === "(idle)"],
  ["(garbage collector)", (node) => node.callFrame.functionName === "(garbage collector)"],
  ["SQLite commit group (commitGroup)", (node) => node.callFrame.functionName === "commitGroup"],
  ["receiver.receive", (node) => node.callFrame.functionName === "receive"],
  ["  verifySignature", (node) => node.callFrame.functionName === "verifySignature"],
  [
    "  parseDelivery (its self time is JSON.parse, inlined)",
    (node) => node.callFrame.functionName === "parseDelivery",
  ],
  ["    zod safeParse", (node) => node.callFrame.functionName === "safeParse"],
  ["  sha256Hex", (node) => node.callFrame.functionName === "sha256Hex"],
  ["  prepareEvents (JSON.stringify)", (node) => node.callFrame.functionName === "prepareEvents"],
  [
    "readNodeBody",
    (node) => node.callFrame.functionName === "readNodeBody" || node.callFrame.functionName === "onData",
  ],
  [
    "node:http parser",
    (node) =>
      node.callFrame.functionName === "parserOnHeadersComplete" ||
      node.callFrame.functionName === "parserOnBody",
  ],
  [
    "socket writes",
    (node) =>
      node.callFrame.functionName === "writeGeneric" || node.callFrame.functionName === "writevGeneric",
  ],
];
const inclusive = new Map(STAGES.map(([name]) => [name, 0]));
for (const [id, ms] of self) {
  const seen = new Set();
  for (let cursor = id; cursor !== undefined; cursor = parent.get(cursor)) {
    const node = nodes.get(cursor);
    for (const [name, matches] of STAGES) {
      if (!seen.has(name) && matches(node)) {
        seen.add(name);
        inclusive.set(name, inclusive.get(name) + ms);
      }
    }
  }
}
console.log("\ninclusive time by stage:");
for (const [name, ms] of inclusive) {
  console.log(`${((100 * ms) / total).toFixed(1).padStart(6)}%  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
}
