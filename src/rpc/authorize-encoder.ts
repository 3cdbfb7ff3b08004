import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema } from "../../gen/tessera/v1/auth_service_pb.js";
import { asBuffer } from "./handlers.js";

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

/** Bytes of a string field (tag, length, UTF-8) given its UTF-8 length; an empty one is not written. */
function stringFieldSize(bytes: number): number {
  return bytes === 0 ? 0 : 1 + varintSize(bytes) + bytes;
}

function writeStringField(buf: Buffer, pos: number, tag: number, s: string, bytes: number): number {
  if (bytes === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes);
  return pos + buf.write(s, pos, "utf8");
}

/**
 * AuthorizeResponse to protobuf bytes, by hand: the reflective encoder costs several
 * microseconds and allocations per call on the hottest path. Covers fields 1–5; a response
 * with an explanation, a minted token, unknown fields or an out-of-range revision goes to protobuf-es.
 * test/unit/authorize-encoder.test.ts checks it byte for byte against protobuf-es.
 */
export function encodeAuthorizeResponse(m: AuthorizeResponseInit): Buffer {
  const revision = Number(m.policyRevision ?? 0);
  const decision = m.decision ?? 0;
  if (
    (m.explanation?.length ?? 0) > 0 ||
    m.token ||
    m.expiresAt !== undefined ||
    ("$unknown" in m && m.$unknown !== undefined) ||
    !Number.isSafeInteger(revision) ||
    revision < 0 ||
    decision < 0
  ) {
    return asBuffer(toBinary(AuthorizeResponseSchema, create(AuthorizeResponseSchema, m)));
  }
  const reason = m.reason ?? "";
  const rule = m.rule ?? "";
  const id = m.decisionId ?? "";
  const reasonBytes = Buffer.byteLength(reason, "utf8");
  const ruleBytes = Buffer.byteLength(rule, "utf8");
  const idBytes = Buffer.byteLength(id, "utf8");
  const size =
    (decision !== 0 ? 1 + varintSize(decision) : 0) +
    stringFieldSize(reasonBytes) +
    stringFieldSize(ruleBytes) +
    (revision !== 0 ? 1 + varintSize(revision) : 0) +
    stringFieldSize(idBytes);
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  if (decision !== 0) {
    buf[pos++] = 0x08; // field 1, varint
    pos = writeVarint(buf, pos, decision);
  }
  pos = writeStringField(buf, pos, 0x12, reason, reasonBytes); // field 2, length-delimited
  pos = writeStringField(buf, pos, 0x1a, rule, ruleBytes); // field 3
  if (revision !== 0) {
    buf[pos++] = 0x20; // field 4, varint
    pos = writeVarint(buf, pos, revision);
  }
  writeStringField(buf, pos, 0x2a, id, idBytes); // field 5
  return buf;
}
