import { create, type JsonObject, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { HeaderValueOptionSchema } from "../../gen/envoy/config/core/v3/base_pb.js";
import {
  CheckResponseSchema,
  type DeniedHttpResponseSchema,
} from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { asBuffer } from "./handlers.js";

/*
 * CheckResponse to protobuf bytes, field by field (issue #12: ext_authz Check must keep up with
 * Authorize). The reflective encoder walks descriptors and spends about half its time on the
 * dynamic_metadata Struct; this writes the shapes rpc/ext-authz.ts builds — a status, an
 * ok_response or a denied_response with headers (and a body), and metadata of strings and
 * numbers — and hands anything else to protobuf-es. test/unit/ext-authz-encoder.test.ts checks
 * that both read back the same message.
 */

type CheckResponseInit = MessageInitShape<typeof CheckResponseSchema>;
type HeaderOptionInit = MessageInitShape<typeof HeaderValueOptionSchema>;
type DeniedInit = MessageInitShape<typeof DeniedHttpResponseSchema>;

/** Field numbers (proto/envoy/service/auth/v3/external_auth.proto and its imports). */
const F = {
  status: 1, // google.rpc.Status: code 1, message 2
  denied: 2, // DeniedHttpResponse: status 1 (HttpStatus: code 1), headers 2, body 3
  ok: 3, // OkHttpResponse: headers 2
  metadata: 4, // google.protobuf.Struct: fields 1 (map entry: key 1, value 2)
} as const;

/** True for the values the hand encoder writes: a Struct of strings and finite numbers. */
function plainMetadata(m: JsonObject | undefined): boolean {
  if (m === undefined) return true;
  for (const key in m) {
    const v = m[key];
    if (typeof v !== "string" && (typeof v !== "number" || !Number.isFinite(v))) return false;
  }
  return true;
}

/** True when every part of the response is one the hand encoder writes. */
function handWritable(m: CheckResponseInit): boolean {
  if ("$unknown" in m && m.$unknown !== undefined) return false;
  // Negative int32s take ten bytes on the wire; no answer of ours has one.
  if ((m.status?.details?.length ?? 0) > 0 || (m.status?.code ?? 0) < 0) return false;
  const http = m.httpResponse;
  if (http?.case === "okResponse") {
    const v = http.value;
    if ((v.headersToRemove?.length ?? 0) > 0 || (v.responseHeadersToAdd?.length ?? 0) > 0) return false;
  } else if (http?.case !== "deniedResponse" && http?.case !== undefined) return false;
  return m.dynamicMetadata === undefined || plainMetadata(m.dynamicMetadata);
}

const varintSize = (n: number) => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);
/** A length-delimited field's bytes: tag, length, body. */
const delimited = (bodyBytes: number) => 1 + varintSize(bodyBytes) + bodyBytes;
const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
/** A string field; an empty one is not written. */
const stringSize = (s: string | undefined) => (s ? delimited(utf8(s)) : 0);
/** An int32 field of a non-negative value; zero is not written. */
const enumSize = (n: number | undefined) => (n ? 1 + varintSize(n) : 0);

/** Writes protobuf into a buffer sized beforehand (every size is computed by the *Size twins). */
class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  varint(n: number) {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }
  /** A length-delimited field's tag and length; its body is written next. */
  open(field: number, bodyBytes: number) {
    this.buf[this.pos++] = (field << 3) | 2;
    this.varint(bodyBytes);
  }
  string(field: number, s: string | undefined) {
    if (!s) return;
    this.open(field, utf8(s));
    this.pos += this.buf.write(s, this.pos, "utf8");
  }
  enum(field: number, n: number | undefined) {
    if (!n) return;
    this.buf[this.pos++] = field << 3;
    this.varint(n);
  }
  double(field: number, v: number) {
    this.buf[this.pos++] = (field << 3) | 1;
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }
}

/** HeaderValueOption: header {key 1, value 2} (written when set, even empty), append_action 3. */
function headerBodySize(h: HeaderOptionInit): number {
  const hv = h.header ? stringSize(h.header.key) + stringSize(h.header.value) : -1;
  return (hv >= 0 ? delimited(hv) : 0) + enumSize(h.appendAction);
}

function headersSize(headers: readonly HeaderOptionInit[] | undefined): number {
  let n = 0;
  for (const h of headers ?? []) n += delimited(headerBodySize(h));
  return n;
}

function writeHeaders(o: Out, field: number, headers: readonly HeaderOptionInit[] | undefined) {
  for (const h of headers ?? []) {
    o.open(field, headerBodySize(h));
    if (h.header) {
      o.open(1, stringSize(h.header.key) + stringSize(h.header.value));
      o.string(1, h.header.key);
      o.string(2, h.header.value);
    }
    o.enum(3, h.appendAction);
  }
}

/** Struct.fields entry {key 1, value 2: Value {number_value 2 | string_value 3}}. */
const valueSize = (v: string | number) => (typeof v === "number" ? 9 : delimited(utf8(v)));
const entrySize = (key: string, v: string | number) => stringSize(key) + delimited(valueSize(v));

function metadataSize(m: JsonObject): number {
  let n = 0;
  for (const key in m) n += delimited(entrySize(key, m[key] as string | number));
  return n;
}

function writeMetadata(o: Out, m: JsonObject) {
  o.open(F.metadata, metadataSize(m));
  for (const key in m) {
    const v = m[key] as string | number;
    o.open(1, entrySize(key, v));
    o.string(1, key);
    o.open(2, valueSize(v));
    if (typeof v === "number") o.double(2, v);
    else {
      o.open(3, utf8(v));
      o.pos += o.buf.write(v, o.pos, "utf8");
    }
  }
}

const statusSize = (s: NonNullable<CheckResponseInit["status"]>) => enumSize(s.code) + stringSize(s.message);

function deniedSize(v: DeniedInit): number {
  return (v.status ? delimited(enumSize(v.status.code)) : 0) + headersSize(v.headers) + stringSize(v.body);
}

export function encodeCheckResponse(m: CheckResponseInit): Buffer {
  if (!handWritable(m)) return asBuffer(toBinary(CheckResponseSchema, create(CheckResponseSchema, m)));
  const http = m.httpResponse;
  const denied = http?.case === "deniedResponse" ? http.value : undefined;
  const ok = http?.case === "okResponse" ? http.value : undefined;
  const size =
    (m.status ? delimited(statusSize(m.status)) : 0) +
    (denied ? delimited(deniedSize(denied)) : 0) +
    (ok ? delimited(headersSize(ok.headers)) : 0) +
    (m.dynamicMetadata ? delimited(metadataSize(m.dynamicMetadata)) : 0);
  const o = new Out(Buffer.allocUnsafe(size));
  if (m.status) {
    o.open(F.status, statusSize(m.status));
    o.enum(1, m.status.code);
    o.string(2, m.status.message);
  }
  if (denied) {
    o.open(F.denied, deniedSize(denied));
    if (denied.status) {
      o.open(1, enumSize(denied.status.code));
      o.enum(1, denied.status.code);
    }
    writeHeaders(o, 2, denied.headers);
    o.string(3, denied.body);
  }
  if (ok) {
    o.open(F.ok, headersSize(ok.headers));
    writeHeaders(o, 2, ok.headers);
  }
  if (m.dynamicMetadata) writeMetadata(o, m.dynamicMetadata);
  return o.buf;
}
