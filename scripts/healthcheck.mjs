#!/usr/bin/env node
// The container's HEALTHCHECK (and CI's readiness probe): exit 0 when the server answers 200, 1
// otherwise. With TESSERA_HEALTH_PORT it asks /livez there (liveness, answered by the primary:
// a server that sheds load under a crowd is busy, not dead, and must not be restarted for it);
// else /healthz on the HTTP port. It reads the same variables as `tessera serve`: TESSERA_HOST,
// TESSERA_HEALTH_PORT, TESSERA_HTTP_PORT, and TESSERA_TLS_CERT (set: both speak HTTPS).
// A URL given as the only argument is probed instead.
import http from "node:http";
import https from "node:https";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The URL to probe for a server configured by `env` (a wildcard address is probed on loopback). */
export function healthzUrl(env = process.env) {
  const host = env.TESSERA_HOST || "127.0.0.1";
  const probe = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  const scheme = env.TESSERA_TLS_CERT ? "https" : "http";
  const at = `${scheme}://${probe.includes(":") ? `[${probe}]` : probe}`;
  return env.TESSERA_HEALTH_PORT
    ? `${at}:${env.TESSERA_HEALTH_PORT}/livez`
    : `${at}:${env.TESSERA_HTTP_PORT || 8080}/healthz`;
}

/** Resolves to true when `url` answers 200 within `timeoutMs`. */
export function probe(url, timeoutMs = 2000) {
  const client = url.startsWith("https:") ? https : http;
  return new Promise((resolve) => {
    // The server's own certificate is not checked: this asks a process on this host whether it
    // is up, sends no credential, and the certificate may name another host than the loopback.
    const req = client.get(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const url = process.argv[2] || healthzUrl();
  const ok = await probe(url);
  if (!ok) process.stderr.write(`healthcheck: ${url} is not healthy\n`);
  process.exit(ok ? 0 : 1);
}
