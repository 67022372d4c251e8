// Reads samples out of GET /metrics (Prometheus text exposition), and waits for a gauge to reach
// a value: over HTTP there is no event to await, so it re-reads within a bound.
import { setTimeout as delay } from 'node:timers/promises';

// Pause between two reads of /metrics while waiting (keeps the wait from loading the 2-core machine).
const kPollPauseMs = 5;

// `name{label="value",...} number` (label values here never hold an escaped quote).
const kSampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const kLabel = /([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g;

// The value of the sample `name` whose labels include every entry of `labels`; undefined if none
// does; an error if several do (the caller's labels were not specific enough).
export function sampleValue(text, name, labels = {}) {
  const matches = [];
  for (const line of text.split('\n')) {
    const match = kSampleLine.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? '').matchAll(kLabel)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) matches.push(Number(match[3]));
  }
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return matches[0];
}

export async function readMetrics(baseUrl) {
  const response = await fetch(`${baseUrl}/metrics`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`);
  return response.text();
}

// Resolves with the exposition once the sample equals `expected`; throws after `boundMs` naming
// the last value seen.
export async function waitForSample(baseUrl, name, labels, expected, boundMs) {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const text = await readMetrics(baseUrl);
    const value = sampleValue(text, name, labels);
    if (value === expected) return text;
    if (Date.now() > deadline) {
      throw new Error(`${name}${JSON.stringify(labels)} is ${value}, not ${expected}, after ${boundMs} ms`);
    }
    await delay(kPollPauseMs);
  }
}
