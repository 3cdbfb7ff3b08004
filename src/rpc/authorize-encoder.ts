import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema } from "../../gen/tessera/v1/auth_service_pb.js";

type AuthorizeResponseInit = MessageInitShape<typeof AuthorizeResponseSchema>;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

function stringFieldSize(s: string): number {
  if (s.length === 0) return 0;
  const bytes = Buffer.byteLength(s, "utf8");
  return 1 + varintSize(bytes) + bytes;
}

function writeStringField(buf: Buffer, pos: number, tag: number, s: string): number {
  if (s.length === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, Buffer.byteLength(s, "utf8"));
  return pos + buf.write(s, pos, "utf8");
}

/**
 * AuthorizeResponse to protobuf bytes, by hand: the reflective encoder costs several
 * microseconds and allocations per call on the hottest path. Covers fields 1–5; a response
 * with an explanation, unknown fields or an out-of-range revision goes to protobuf-es.
 * test/unit/authorize-encoder.test.ts checks it byte for byte against protobuf-es.
 */
export function encodeAuthorizeResponse(m: AuthorizeResponseInit): Buffer {
  const revision = Number(m.policyRevision ?? 0);
  const decision = m.decision ?? 0;
  if (
    (m.explanation?.length ?? 0) > 0 ||
    ("$unknown" in m && m.$unknown !== undefined) ||
    !Number.isSafeInteger(revision) ||
    revision < 0 ||
    decision < 0
  ) {
    const bytes = toBinary(AuthorizeResponseSchema, create(AuthorizeResponseSchema, m));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const reason = m.reason ?? "";
  const rule = m.rule ?? "";
  const id = m.decisionId ?? "";
  const size =
    (decision !== 0 ? 1 + varintSize(decision) : 0) +
    stringFieldSize(reason) +
    stringFieldSize(rule) +
    (revision !== 0 ? 1 + varintSize(revision) : 0) +
    stringFieldSize(id);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (decision !== 0) {
    buf[pos++] = 0x08; // field 1, varint
    pos = writeVarint(buf, pos, decision);
  }
  pos = writeStringField(buf, pos, 0x12, reason); // field 2, length-delimited
  pos = writeStringField(buf, pos, 0x1a, rule); // field 3
  if (revision !== 0) {
    buf[pos++] = 0x20; // field 4, varint
    pos = writeVarint(buf, pos, revision);
  }
  writeStringField(buf, pos, 0x2a, id); // field 5
  return buf;
}
