import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { AuthorizeResponseSchema, MintTokenResponseSchema } from "../../gen/tessera/v1/auth_service_pb.js";
import { asBuffer } from "./handlers.js";

type AuthorizeResponseInit = MessageInitShape<typeof AuthorizeResponseSchema>;
type MintTokenResponseInit = MessageInitShape<typeof MintTokenResponseSchema>;

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

const MAX_SAFE_SECONDS = BigInt(Number.MAX_SAFE_INTEGER);

/** An expiry the hand encoder writes: none, or whole non-negative seconds in the safe range. */
function plainExpiry(t: AuthorizeResponseInit["expiresAt"] | MintTokenResponseInit["expiresAt"]): boolean {
  if (t === undefined) return true;
  if ((t.nanos ?? 0) !== 0 || ("$unknown" in t && t.$unknown !== undefined)) return false;
  const sec = t.seconds ?? 0n;
  return sec >= 0n && sec <= MAX_SAFE_SECONDS;
}

/**
 * AuthorizeResponse to protobuf bytes, by hand: the reflective encoder costs several
 * microseconds and allocations per call on the hottest path. Covers fields 1–5, and 7–8 (a
 * minted token and its whole-second expiry); a response with an explanation, unknown fields,
 * an out-of-range revision or a fractional expiry goes to protobuf-es.
 * test/unit/authorize-encoder.test.ts checks it byte for byte against protobuf-es.
 */
export function encodeAuthorizeResponse(m: AuthorizeResponseInit): Buffer {
  const revision = Number(m.policyRevision ?? 0);
  const decision = m.decision ?? 0;
  if (
    (m.explanation?.length ?? 0) > 0 ||
    !plainExpiry(m.expiresAt) ||
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
  const token = m.token ?? "";
  const tokenBytes = token.length === 0 ? 0 : Buffer.byteLength(token, "utf8");
  const expSec = m.expiresAt === undefined ? -1 : Number(m.expiresAt.seconds ?? 0n);
  // Timestamp {seconds = 1}: the message is written when set, even when empty.
  const expInner = expSec > 0 ? 1 + varintSize(expSec) : 0;
  const reasonBytes = Buffer.byteLength(reason, "utf8");
  const ruleBytes = Buffer.byteLength(rule, "utf8");
  const idBytes = Buffer.byteLength(id, "utf8");
  const size =
    (decision !== 0 ? 1 + varintSize(decision) : 0) +
    stringFieldSize(reasonBytes) +
    stringFieldSize(ruleBytes) +
    (revision !== 0 ? 1 + varintSize(revision) : 0) +
    stringFieldSize(idBytes) +
    stringFieldSize(tokenBytes) +
    (expSec >= 0 ? 2 + expInner : 0);
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
  pos = writeStringField(buf, pos, 0x2a, id, idBytes); // field 5
  pos = writeStringField(buf, pos, 0x3a, token, tokenBytes); // field 7
  if (expSec >= 0) {
    buf[pos++] = 0x42; // field 8, length-delimited (a Timestamp)
    buf[pos++] = expInner; // under 128: a one-byte length
    if (expSec > 0) {
      buf[pos++] = 0x08; // Timestamp.seconds, varint
      writeVarint(buf, pos, expSec);
    }
  }
  return buf;
}

/**
 * MintTokenResponse to protobuf bytes, by hand (MintToken's answer, issue #15): the token (1),
 * its whole-second expiry (2) and its id (3). Unknown fields or a fractional or out-of-range
 * expiry go to protobuf-es. test/unit/authorize-encoder.test.ts checks it byte for byte.
 */
export function encodeMintTokenResponse(m: MintTokenResponseInit): Buffer {
  if (!plainExpiry(m.expiresAt) || ("$unknown" in m && m.$unknown !== undefined)) {
    return asBuffer(toBinary(MintTokenResponseSchema, create(MintTokenResponseSchema, m)));
  }
  const token = m.token ?? "";
  const id = m.tokenId ?? "";
  const tokenBytes = Buffer.byteLength(token, "utf8");
  const idBytes = Buffer.byteLength(id, "utf8");
  const expSec = m.expiresAt === undefined ? -1 : Number(m.expiresAt.seconds ?? 0n);
  const expInner = expSec > 0 ? 1 + varintSize(expSec) : 0;
  const size = stringFieldSize(tokenBytes) + (expSec >= 0 ? 2 + expInner : 0) + stringFieldSize(idBytes);
  const buf = Buffer.allocUnsafe(size);
  let pos = writeStringField(buf, 0, 0x0a, token, tokenBytes); // field 1, length-delimited
  if (expSec >= 0) {
    buf[pos++] = 0x12; // field 2, length-delimited (a Timestamp)
    buf[pos++] = expInner; // under 128: a one-byte length
    if (expSec > 0) {
      buf[pos++] = 0x08; // Timestamp.seconds, varint
      pos = writeVarint(buf, pos, expSec);
    }
  }
  writeStringField(buf, pos, 0x1a, id, idBytes); // field 3
  return buf;
}
