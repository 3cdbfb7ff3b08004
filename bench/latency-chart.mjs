// A hand-written SVG of latency by percentile, the classic HdrHistogram plot: x is the
// percentile on a log scale of 1/(1-p) (50%, 90%, 99%, 99.9%, ... evenly spaced), y the latency
// in ms, one line per series (limit, Cerbos, Tessera) drawn from latency.mjs's records.
//
// Run directly, it redraws the chart from h2load --log-file files:
//   node bench/latency-chart.mjs out.svg Tessera=tessera.log Cerbos=cerbos.log limit=limit.log [--title=...]
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { readLatencyLog } from "./latency.mjs";

/** The colours of bench/chart.mjs for the same targets; other names take the next free one. */
const KNOWN = [
  [/tessera/i, "#4e79a7"],
  [/cerbos/i, "#f28e2b"],
  [/limit/i, "#9e9e9e"],
];
const SPARE = ["#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#edc948"];

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
/** A latency in ms, to about three significant figures. */
const ms = (us) => {
  const v = us / 1000;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
};
/** A tick value with no float noise (0.30000000000000004 → 0.3). */
const tickText = (v) => String(Number(v.toPrecision(6)));
const fix = (v) => Number(v.toFixed(1));

/** x of a percentile: log10 of 1/(1-p); the max (100%) sits at 1/(1-p) = count, its rank. */
const decades = (p, count) => (p >= 100 ? Math.log10(count) : -Math.log10(1 - p / 100));

/**
 * The SVG (a string) of latency by percentile. series: [{ name, latency, color? }] where latency
 * is a record of latency.mjs (it needs count, maxUs, p50Us, p99Us, p999Us and distribution).
 * Options: title, subtitle, width (900), height (500).
 */
export function latencyChart(
  series,
  { title = "Latency by percentile", subtitle = "", width = 900, height = 500 } = {},
) {
  if (series.length === 0) throw new Error("latencyChart: no series");
  for (const s of series)
    if (!s.latency?.distribution?.length || !s.latency.count)
      throw new Error(`latencyChart: series ${s.name} has no latency distribution`);
  const spare = [...SPARE];
  const lines = series.map((s) => ({
    ...s,
    color: s.color ?? KNOWN.find(([re]) => re.test(s.name))?.[1] ?? spare.shift() ?? "#333",
  }));
  const [W, H, left, right, top, bottom] = [width, height, 70, 30, subtitle ? 72 : 52, 62];
  const plotW = W - left - right;
  const plotH = H - top - bottom;

  const xMax = Math.max(1, ...lines.map((s) => decades(100, s.latency.count)));
  const x = (d) => fix(left + (d / xMax) * plotW);
  const yTop = Math.max(...lines.map((s) => s.latency.maxUs)) / 1000;
  const step = 10 ** Math.floor(Math.log10(Math.max(yTop, 1e-3) / 5));
  const tick = [1, 2, 2.5, 5, 10].map((k) => k * step).find((t) => Math.ceil(yTop / t) <= 6) ?? 10 * step;
  const yMax = Math.max(tick, Math.ceil((yTop * 1.04) / tick) * tick);
  const y = (msValue) => fix(top + plotH - (msValue / yMax) * plotH);

  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="latency-title">`,
    `<title id="latency-title">${esc(title)}${subtitle ? ` (${esc(subtitle)})` : ""}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  if (subtitle) out.push(`<text x="${left}" y="44" fill="#555">${esc(subtitle)}</text>`);

  // y grid and ticks (ms)
  for (let i = 0; i * tick <= yMax + tick / 1e6; i++) {
    const v = i * tick;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end" fill="#555">${tickText(v)}</text>`);
  }
  out.push(
    `<text transform="translate(18 ${fix(top + plotH / 2)}) rotate(-90)" text-anchor="middle" fill="#333">latency (ms)</text>`,
  );

  // x grid and ticks: 0%, 50%, then every nine in ten (90%, 99%, ...) up to the max
  const maxX = x(xMax);
  const xTicks = [
    [0, "0%"],
    [Math.log10(2), "50%"],
  ];
  for (let d = 1; d < xMax; d++) xTicks.push([d, `${tickText(100 - 100 / 10 ** d)}%`]);
  for (const [d, label] of xTicks) {
    if (maxX - x(d) < 44 && d > 0) continue; // too close to the max's label
    out.push(`<line x1="${x(d)}" x2="${x(d)}" y1="${top}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x(d)}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(`<line x1="${maxX}" x2="${maxX}" y1="${top}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
  out.push(`<text x="${maxX}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">max</text>`);
  out.push(
    `<text x="${fix(left + plotW / 2)}" y="${H - 14}" text-anchor="middle" fill="#333">percentile (log scale of 1/(1−p))</text>`,
  );
  // axes
  out.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);

  // one path per series
  for (const s of lines) {
    const pts = s.latency.distribution.map(([p, us]) => `${x(decades(p, s.latency.count))},${y(us / 1000)}`);
    out.push(
      `<path d="M${pts.join("L")}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"><title>${esc(s.name)}</title></path>`,
    );
    // a dot on the series' max (where a series with fewer requests stops short of the axis' max)
    out.push(
      `<circle cx="${x(decades(100, s.latency.count))}" cy="${y(s.latency.maxUs / 1000)}" r="3" fill="${s.color}"><title>${esc(s.name)} max ${ms(s.latency.maxUs)} ms</title></circle>`,
    );
  }

  // legend, top left inside the plot (the curves rise on the right)
  const rowH = 20;
  const boxW = 380;
  out.push(
    `<rect x="${left + 10}" y="${top + 8}" width="${boxW}" height="${lines.length * rowH + 10}" fill="#fff" fill-opacity="0.9" stroke="#ccc"/>`,
  );
  lines.forEach((s, i) => {
    const ly = top + 8 + 5 + i * rowH + rowH / 2;
    const l = s.latency;
    out.push(
      `<line x1="${left + 20}" x2="${left + 44}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`,
    );
    out.push(`<text x="${left + 52}" y="${ly + 4}" font-weight="bold">${esc(s.name)}</text>`);
    out.push(
      `<text x="${left + 150}" y="${ly + 4}" fill="#555">p50 ${ms(l.p50Us)} · p99 ${ms(l.p99Us)} · p99.9 ${ms(l.p999Us)} · max ${ms(l.maxUs)} ms</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

/** node bench/latency-chart.mjs out.svg name=file.log ... [--title=...] [--subtitle=...] */
function main(argv) {
  const opts = {};
  const rest = [];
  for (const a of argv) {
    const m = /^--(title|subtitle)=(.*)$/s.exec(a);
    if (m) opts[m[1]] = m[2];
    else rest.push(a);
  }
  const [outPath, ...pairs] = rest;
  if (!outPath?.endsWith(".svg") || pairs.length === 0 || pairs.some((p) => !/^[^=]+=.+/.test(p))) {
    console.error(
      "usage: node bench/latency-chart.mjs out.svg name=h2load.log [name2=other.log ...] [--title=...] [--subtitle=...]",
    );
    process.exit(2);
  }
  const series = pairs.map((pair) => {
    const at = pair.indexOf("=");
    const name = pair.slice(0, at);
    const latency = readLatencyLog(pair.slice(at + 1));
    console.log(
      `${name}: ${latency.count} requests (${latency.bad} not 200), mean ${ms(latency.meanUs)}, p50 ${ms(latency.p50Us)}, p90 ${ms(latency.p90Us)}, p99 ${ms(latency.p99Us)}, p99.9 ${ms(latency.p999Us)}, p99.99 ${ms(latency.p9999Us)}, max ${ms(latency.maxUs)} ms`,
    );
    return { name, latency };
  });
  writeFileSync(outPath, latencyChart(series, opts));
  console.log(`wrote ${outPath}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
