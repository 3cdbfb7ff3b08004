// A hand-written SVG: grouped bars of throughput (req/s) per case for limit, Cerbos and
// Tessera (and raw Ed25519 signing next to MintToken), with Cerbos's figure as a dashed line.
const SERIES = [
  { key: "limit", label: "limit (bare grpc-js)", color: "#9e9e9e" },
  { key: "cerbos", label: "Cerbos (dashed across cases)", color: "#f28e2b" },
  { key: "ed25519", label: "raw Ed25519 signing (ops/s)", color: "#59a14f" },
  { key: "tessera", label: "Tessera", color: "#4e79a7" },
];

/** The groups in the chart's order, with two-line labels. */
const GROUPS = [
  ["attrs", "Authorize", "attributes"],
  ["nolog", "Authorize, attributes", "decision log off"],
  ["sync", "Authorize, attributes", "decision log sync"],
  ["token", "Authorize", "token (cache warm)"],
  ["big", "Authorize, 10,005", "rules + 100k agents"],
  ["authn", "Authenticate", "API key"],
  ["mint", "MintToken", ""],
  ["mintsign", "MintToken limit:", "decode + sign"],
];

const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const short = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : `${Math.round(v)}`);

export function chartSvg(d, find, date) {
  const value = (series, caseId) => {
    if (series === "ed25519") return caseId === "mint" ? d.ed25519OpsPerSec : undefined;
    return find(d.rows, series, caseId)?.reqPerSec;
  };
  const groups = GROUPS.map(([id, ...lines]) => ({
    lines,
    bars: SERIES.map((s) => ({ ...s, v: value(s.key, id) })).filter((b) => b.v !== undefined),
  })).filter((g) => g.bars.length > 0);
  const [W, H, left, right, top, bottom] = [980, 460, 70, 20, 70, 90];
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.v))) * 1.12;
  const step = 10 ** Math.floor(Math.log10(max / 5));
  const tick = [1, 2, 2.5, 5, 10].map((k) => k * step).find((t) => max / t <= 6);
  const y = (v) => top + plotH - (v / max) * plotH;
  const day = esc(date.slice(0, 10));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img" aria-labelledby="chart-title">`,
    `<title id="chart-title">Throughput per case, req/s: limit, Cerbos and Tessera (npm run bench, ${day})</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="16" font-weight="bold">Throughput per case, req/s (higher is better)</text>`,
    `<text x="${left}" y="44" fill="#555">h2load -n ${d.settings.n} -c 4 -m 32 -t 1; ${d.workers} server process(es) per Node target; best of ${d.rounds ?? 1} round(s); ${day}</text>`,
  ];
  for (let t = 0; t <= max; t += tick) {
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(t)}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${left - 8}" y="${y(t) + 4}" text-anchor="end" fill="#555">${short(t)}</text>`);
  }
  const gw = plotW / groups.length;
  const bw = 34;
  groups.forEach((g, i) => {
    const x0 = left + i * gw + (gw - g.bars.length * (bw + 6)) / 2;
    g.bars.forEach((b, j) => {
      const x = x0 + j * (bw + 6);
      const h = top + plotH - y(b.v);
      out.push(
        `<rect x="${x}" y="${y(b.v)}" width="${bw}" height="${h}" fill="${b.color}"><title>${esc(b.label)}: ${Math.round(b.v)}</title></rect>`,
      );
      out.push(
        `<text x="${x + bw / 2}" y="${y(b.v) - 5}" text-anchor="middle" font-size="11">${short(b.v)}</text>`,
      );
    });
    g.lines.forEach((line, k) => {
      const x = left + i * gw + gw / 2;
      out.push(`<text x="${x}" y="${top + plotH + 18 + k * 15}" text-anchor="middle">${esc(line)}</text>`);
    });
  });
  const cerbos = value("cerbos", "attrs");
  if (cerbos) {
    const yc = y(cerbos);
    out.push(
      `<line x1="${left}" x2="${W - right}" y1="${yc}" y2="${yc}" stroke="#f28e2b" stroke-dasharray="5 4"/>`,
    );
  }
  out.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  SERIES.forEach((s, i) => {
    const x = left + i * 225;
    out.push(`<rect x="${x}" y="${H - 24}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${x + 18}" y="${H - 14}">${esc(s.label)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
