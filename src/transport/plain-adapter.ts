import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { CallContext } from "../core/context.js";
import type { Tally } from "../observe/call-meter.js";
import { REQUEST_ID_HEADER, requestIdFrom } from "../observe/request-id.js";
import type { PlainHandler, PlainResponse } from "../rpc/authzen.js";
import { reportInternal } from "../rpc/errors.js";
import { socketPeer } from "./connect-adapter.js";

/*
 * Plain JSON endpoints (AuthZEN) on the HTTP port: reads the body within the message bound,
 * hands the request to its handler, writes the answer. No business logic: the handler (rpc/)
 * decides everything, including how a refusal reads.
 */

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/** A Host header as a URL authority: a name or IP literal and an optional port. */
const AUTHORITY = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

function callContext(req: Req, requestId: string): CallContext {
  const peer = socketPeer(req.socket);
  return {
    requestId,
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
    peer: () => peer,
    remote: () => req.socket?.remoteAddress,
    deadline: () => undefined,
  };
}

/** `scheme://authority` as the caller reached us; undefined when the Host header is unusable. */
function baseUrl(req: Req, tls: boolean): string | undefined {
  const host = (req.headers[":authority"] as string | undefined) ?? req.headers.host;
  return host && AUTHORITY.test(host) ? `${tls ? "https" : "http"}://${host}` : undefined;
}

/**
 * The body's bytes, or undefined once it passes `maxBytes` (the rest is read and dropped, so
 * the answer is not a reset connection; the request timeout bounds how long that may take).
 */
function readBody(req: Req, maxBytes: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res: Res, answer: PlainResponse, requestId: string): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...answer.headers,
    [REQUEST_ID_HEADER]: requestId,
  });
  res.end(text);
}

/**
 * Serves one plain request with `handler`. Its request id goes back in `x-request-id`; with a
 * `tally` (the route's, never one per raw path) the request is timed and counted.
 */
export function servePlain(
  handler: PlainHandler,
  req: Req,
  res: Res,
  opts: { maxBytes: number; tls: boolean; tally?: Tally | undefined },
): void {
  const started = opts.tally ? performance.now() : 0;
  const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
  const answer = (a: PlainResponse) => {
    opts.tally?.record(a.status, started, requestId);
    send(res, a, requestId);
  };
  const path = (req.url ?? "").split("?")[0] ?? "";
  const body = req.method === "POST" ? readBody(req, opts.maxBytes) : Promise.resolve(new Uint8Array(0));
  body
    .then((text) =>
      handler({
        method: req.method ?? "",
        path,
        body: text,
        ctx: callContext(req, requestId),
        baseUrl: baseUrl(req, opts.tls),
      }),
    )
    .then(answer, (err) => {
      // The handler answers every refusal itself: only a broken connection gets here, and
      // one the client broke is not ours to report.
      if (req.destroyed) return;
      reportInternal(err);
      if (!res.headersSent) answer({ status: 500, body: { error: "internal error", reason: "INTERNAL" } });
    });
}
