import type * as http from "node:http";
import type * as http2 from "node:http2";
import { type DescMethod, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import { createAsyncIterable, readAllBytes, type UniversalServerRequest } from "@connectrpc/connect/protocol";
import { parseContentType } from "@connectrpc/connect/protocol-connect";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { TesseraError } from "../domain/errors.js";
import { reportInternal } from "../rpc/errors.js";
import { checkJsonRequest } from "../rpc/json-request.js";
import { connectError, requestContextValues } from "./connect-adapter.js";

const COMPRESSIONS = [compressionGzip, compressionBrotli];

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface ConnectHandlerOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly maxMessageBytes: number;
}

/**
 * Connect, gRPC-Web and gRPC for the routes, as connect-node's adapter serves them, except
 * that a Connect JSON request's body is checked (rpc/json-request.ts) before it is decoded:
 * unknown keys and enum values are refused naming the field, tier aliases accepted. Other JSON
 * (gRPC-Web+json) is decoded strictly too, in the library's words. Binary is untouched.
 * Unknown paths are answered 404.
 */
export function connectHandler(
  opts: ConnectHandlerOptions,
): (req: NodeRequest, res: NodeResponse, body?: Uint8Array) => void {
  const router = createConnectRouter({
    readMaxBytes: opts.maxMessageBytes,
    acceptCompression: COMPRESSIONS,
    jsonOptions: { ignoreUnknownFields: false },
  });
  opts.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  // With `body`: the request's body, already read (by the direct path, which declined it).
  return (req, res, body) => {
    const handler = paths.get((req.url ?? "").split("?", 1)[0] ?? "");
    if (!handler) {
      res.writeHead(404);
      res.end();
      return;
    }
    let uReq = universalRequestFromNodeRequest(req, res, undefined, requestContextValues(req));
    if (body) uReq = { ...uReq, body: createAsyncIterable([body]) };
    handler(strictJson(uReq, handler.method, opts.maxMessageBytes))
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err: unknown) => {
        if (ConnectError.from(err).code !== Code.Aborted) reportInternal(err);
      });
  };
}

/**
 * A Connect unary JSON request with its body checked as the handler reads it, so a refusal is
 * answered as any Connect error is (400 invalid_argument, the reason in ErrorInfo). The body
 * is read within the message limit, decompressed here (the check must see the JSON), and
 * passed on as plain JSON: serialized again only when a tier alias was replaced.
 */
function strictJson(
  uReq: UniversalServerRequest,
  method: DescMethod,
  maxBytes: number,
): UniversalServerRequest {
  const type = uReq.method === "POST" ? parseContentType(uReq.header.get("content-type")) : undefined;
  if (!type || type.stream) return uReq;
  const encoding = uReq.header.get("content-encoding");
  const compression = COMPRESSIONS.find((c) => c.name === encoding);
  // An encoding we do not speak is left for Connect to refuse.
  if (encoding && encoding !== "identity" && !compression) return uReq;
  const body = uReq.body as AsyncIterable<Uint8Array>;
  const length = uReq.header.get("content-length");
  const header = new Headers(uReq.header);
  header.delete("content-encoding");
  header.delete("content-length");
  async function* checked(): AsyncIterable<Uint8Array> {
    let bytes = await readAllBytes(body, maxBytes, length);
    if (compression) bytes = await compression.decompress(bytes, maxBytes);
    if (type?.binary) {
      // The library would answer garbage with 500 "internal" and its parser's words.
      try {
        fromBinary(method.input, bytes);
      } catch {
        throw connectError(
          new TesseraError("REQUEST_MALFORMED", "the request is not a valid protobuf message"),
        );
      }
      yield bytes;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch {
      throw connectError(new TesseraError("REQUEST_MALFORMED", "the request body is not UTF-8 JSON"));
    }
    let rewritten: boolean;
    try {
      rewritten = checkJsonRequest(method.input, json);
    } catch (err) {
      throw connectError(err);
    }
    yield rewritten ? new TextEncoder().encode(JSON.stringify(json)) : bytes;
  }
  return { ...uReq, header, body: checked() };
}
