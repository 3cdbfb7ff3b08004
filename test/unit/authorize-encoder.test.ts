import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AuthorizeResponse,
  AuthorizeResponseSchema,
  Decision,
  MintTokenResponseSchema,
  RuleTraceSchema,
} from "../../gen/tessera/v1/auth_service_pb.js";
import { encodeAuthorizeResponse, encodeMintTokenResponse } from "../../src/rpc/authorize-encoder.js";

type Init = MessageInitShape<typeof AuthorizeResponseSchema>;

/** What protobuf-es makes of the same response: the reference the hand-written encoder must match. */
const reference = (m: Init): Buffer =>
  Buffer.from(toBinary(AuthorizeResponseSchema, create(AuthorizeResponseSchema, m)));

/** Both encodings as hex, so a mismatch shows where the bytes part. */
function expectSameBytes(m: Init): Buffer {
  const got = encodeAuthorizeResponse(m);
  expect(Buffer.isBuffer(got)).toBe(true);
  expect(got.toString("hex")).toBe(reference(m).toString("hex"));
  return got;
}

/** A string as it comes back from UTF-8: lone surrogates become U+FFFD. */
const utf8 = (s: string) => Buffer.from(s, "utf8").toString("utf8");

/** The fields a response carries (strings as UTF-8 gives them back), in a form toEqual compares plainly. */
const fieldsOf = (r: AuthorizeResponse) => ({
  decision: r.decision,
  reason: utf8(r.reason),
  rule: utf8(r.rule),
  policyRevision: r.policyRevision,
  decisionId: utf8(r.decisionId),
  explanation: r.explanation.map((t) => ({
    rule: t.rule,
    effect: t.effect,
    outcome: t.outcome,
    error: t.error,
  })),
});

const MAX_SAFE = 2n ** 53n - 1n;

/** One character of each UTF-8 width, to build strings of an exact byte length. */
const WIDE = [
  ["a", 1],
  ["é", 2],
  ["€", 3],
  ["😀", 4],
] as const;

/** Byte lengths around the 1-, 2- and 3-byte length-varint boundaries. */
const LENGTHS = [1, 127, 128, 129, 16_383, 16_384, 16_385, 20_000];

/** A string of about `bytes` UTF-8 bytes (exactly, for widths that divide it), in one of the widths. */
const sized = (bytes: number, [ch, width]: (typeof WIDE)[number]) =>
  ch.repeat(Math.max(1, Math.floor(bytes / width)));

const longString = fc
  .tuple(fc.constantFrom(...LENGTHS), fc.constantFrom(...WIDE), fc.string({ maxLength: 3 }))
  .map(([n, w, tail]) => sized(n, w) + tail);

const textArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant("") },
  { weight: 4, arbitrary: fc.string() },
  // Any code point, astral planes included.
  { weight: 4, arbitrary: fc.string({ unit: "binary" }) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme" }) },
  // Lone surrogates: both encoders must replace them the same way.
  { weight: 1, arbitrary: fc.constantFrom("\uD800", "a\uDFFFb", "\uDBFF\uDBFF") },
  { weight: 2, arbitrary: longString },
);

const decisionArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, Decision.UNSPECIFIED, Decision.ALLOW, Decision.DENY) },
  // An open enum: a value this build does not name is still encoded as its number.
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 31 - 1 }) },
);

const revisionArb = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 31n - 1n, 2n ** 32n, MAX_SAFE - 1n, MAX_SAFE),
  fc.bigInt({ min: 0n, max: MAX_SAFE }),
);

/** An init object of the kind the service hands the encoder: any field may be left out. */
const initArb: fc.Arbitrary<Init> = fc.record(
  {
    decision: decisionArb,
    reason: textArb,
    rule: textArb,
    policyRevision: revisionArb,
    decisionId: textArb,
  },
  { requiredKeys: [] },
);

describe("encodeAuthorizeResponse matches protobuf-es byte for byte", () => {
  it("for any decision, strings and revision in the fast path's range (property)", () => {
    fc.assert(
      fc.property(initArb, (init) => {
        const bytes = expectSameBytes(init);
        expect(fieldsOf(fromBinary(AuthorizeResponseSchema, bytes))).toEqual(
          fieldsOf(create(AuthorizeResponseSchema, init)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("for a message made with create(), the same as for its init object (property)", () => {
    fc.assert(
      fc.property(initArb, (init) => {
        const message = create(AuthorizeResponseSchema, init);
        expect(encodeAuthorizeResponse(message).toString("hex")).toBe(
          encodeAuthorizeResponse(init).toString("hex"),
        );
        expectSameBytes(message);
      }),
      { numRuns: 200 },
    );
  });

  it("for the empty response: no bytes at all", () => {
    expect(expectSameBytes({})).toHaveLength(0);
    expect(expectSameBytes(create(AuthorizeResponseSchema))).toHaveLength(0);
    expect(
      expectSameBytes({ decision: 0, reason: "", rule: "", policyRevision: 0n, decisionId: "" }),
    ).toHaveLength(0);
  });

  it.each(LENGTHS.flatMap((n) => WIDE.filter(([, w]) => n % w === 0).map((w) => [n, w[0]] as const)))(
    "a string field of exactly %i UTF-8 bytes of %j",
    (n, ch) => {
      const text = sized(n, WIDE.find(([c]) => c === ch) ?? WIDE[0]);
      expect(Buffer.byteLength(text, "utf8")).toBe(n);
      for (const field of ["reason", "rule", "decisionId"] as const) {
        const bytes = expectSameBytes({ decision: Decision.ALLOW, [field]: text, policyRevision: 7n });
        // Tag 1 + varint 1 and tag 4 + varint 7 around one string of n bytes with its length varint.
        const varint = n < 128 ? 1 : n < 16_384 ? 2 : 3;
        expect(bytes).toHaveLength(2 + 1 + varint + n + 2);
      }
    },
  );

  it.each([0n, 1n, 127n, 128n, 16_383n, 16_384n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 49n, MAX_SAFE])(
    "policyRevision %s",
    (revision) => {
      const bytes = expectSameBytes({
        decision: Decision.DENY,
        policyRevision: revision,
        reason: "NO_MATCHING_RULE",
      });
      expect(fromBinary(AuthorizeResponseSchema, bytes).policyRevision).toBe(revision);
    },
  );

  it.each([0n, 1n, 127n, 128n, 1_795_993_338n, 2n ** 35n, MAX_SAFE])(
    "a minted token with an expiry of %s seconds (decide and mint)",
    (seconds) => {
      const token = `eyJhbGciOiJFZERTQSJ9.${"x".repeat(600)}.sig`;
      const minted = { decision: Decision.ALLOW, reason: "ALLOWED_BY_RULE", decisionId: "d", token };
      const bytes = expectSameBytes({ ...minted, expiresAt: { seconds } });
      const back = fromBinary(AuthorizeResponseSchema, bytes);
      expect([back.token, back.expiresAt?.seconds]).toEqual([token, seconds]);
      expectSameBytes({ ...minted, expiresAt: create(TimestampSchema, { seconds }) });
      expectSameBytes({ ...minted, expiresAt: { seconds }, token: "" });
      expectSameBytes({ decision: Decision.ALLOW, token });
    },
  );

  it.each([0, 1, 2, 3, 127, 128, 2 ** 31 - 1])("decision %i", (decision) => {
    const bytes = expectSameBytes({ decision, reason: "r" });
    expect(fromBinary(AuthorizeResponseSchema, bytes).decision).toBe(decision);
  });
});

describe("encodeAuthorizeResponse falls back to protobuf-es, with the same bytes", () => {
  const base = {
    decision: Decision.DENY,
    reason: "DENIED_BY_RULE",
    rule: "p/deny",
    decisionId: "6a1f3c1e-0000-4000-8000-000000000001",
  } as const;

  it.each<[string, Init]>([
    [
      "a response with an explanation",
      {
        ...base,
        policyRevision: 3n,
        explanation: [
          { rule: "p/deny", effect: "deny", outcome: "MATCHED" },
          { rule: "p/allow", effect: "allow", outcome: "CONDITION_ERROR", error: "field not found: x" },
          create(RuleTraceSchema, { rule: "p/ü", effect: "allow", outcome: "ROLE_MISSING" }),
        ],
      },
    ],
    ["a revision of 2^53", { ...base, policyRevision: MAX_SAFE + 1n }],
    ["a revision of 2^60", { ...base, policyRevision: 2n ** 60n }],
    ["the largest int64 revision", { ...base, policyRevision: 2n ** 63n - 1n }],
    ["a revision of -1", { ...base, policyRevision: -1n }],
    ["the smallest int64 revision", { ...base, policyRevision: -(2n ** 63n) }],
    ["a negative decision", { ...base, decision: -1 as Decision, policyRevision: 1n }],
    ["an expiry with nanoseconds", { ...base, token: "t", expiresAt: { seconds: 5n, nanos: 1 } }],
    ["a negative expiry", { ...base, token: "t", expiresAt: { seconds: -5n } }],
    ["an expiry past 2^53 seconds", { ...base, token: "t", expiresAt: { seconds: MAX_SAFE + 1n } }],
    [
      "an explanation and an out-of-range revision together",
      { ...base, policyRevision: -5n, explanation: [{ rule: "p/deny", effect: "deny", outcome: "MATCHED" }] },
    ],
  ])("%s", (_name, init) => {
    const bytes = expectSameBytes(init);
    expect(fieldsOf(fromBinary(AuthorizeResponseSchema, bytes))).toEqual(
      fieldsOf(create(AuthorizeResponseSchema, init)),
    );
    expectSameBytes(create(AuthorizeResponseSchema, init));
  });

  it("keeps the fields and explanation order of a response with an explanation", () => {
    const init: Init = {
      ...base,
      policyRevision: 9n,
      explanation: [
        { rule: "a/1", effect: "allow", outcome: "TIER_TOO_LOW" },
        { rule: "b/2", effect: "deny", outcome: "MATCHED" },
      ],
    };
    const decoded = fromBinary(AuthorizeResponseSchema, encodeAuthorizeResponse(init));
    expect(fieldsOf(decoded)).toEqual({
      ...base,
      policyRevision: 9n,
      explanation: [
        { rule: "a/1", effect: "allow", outcome: "TIER_TOO_LOW", error: "" },
        { rule: "b/2", effect: "deny", outcome: "MATCHED", error: "" },
      ],
    });
  });

  it("keeps unknown fields of a decoded message", () => {
    // Field 15, varint 42: not part of AuthorizeResponse, so it lands in $unknown.
    const known = reference({ ...base, policyRevision: 2n });
    const withUnknown = Buffer.concat([known, Buffer.from([0x78, 0x2a])]);
    const message = fromBinary(AuthorizeResponseSchema, withUnknown);
    expect(message.$unknown).toHaveLength(1);
    const bytes = encodeAuthorizeResponse(message);
    expect(bytes.toString("hex")).toBe(
      Buffer.from(toBinary(AuthorizeResponseSchema, message)).toString("hex"),
    );
    expect(bytes.subarray(-2).toString("hex")).toBe("782a");
  });

  it.each([
    ["2^60", 2n ** 60n],
    ["-1", -1n],
  ])("decodes a revision of %s back exactly", (_name, revision) => {
    const bytes = expectSameBytes({ ...base, policyRevision: revision });
    expect(fromBinary(AuthorizeResponseSchema, bytes).policyRevision).toBe(revision);
  });
});

type MintInit = MessageInitShape<typeof MintTokenResponseSchema>;

/** MintTokenResponse: the hand encoder against protobuf-es, as hex. */
function expectSameMintBytes(m: MintInit): Buffer {
  const got = encodeMintTokenResponse(m);
  expect(Buffer.isBuffer(got)).toBe(true);
  const want = Buffer.from(toBinary(MintTokenResponseSchema, create(MintTokenResponseSchema, m)));
  expect(got.toString("hex")).toBe(want.toString("hex"));
  return got;
}

const secondsArb = fc.oneof(
  fc.constantFrom(0n, 1n, 127n, 128n, 1_700_000_600n, 4_102_444_800n, MAX_SAFE),
  fc.bigInt({ min: 0n, max: MAX_SAFE }),
);

const mintInitArb: fc.Arbitrary<MintInit> = fc.record(
  {
    token: textArb,
    tokenId: textArb,
    expiresAt: fc.oneof(
      fc.constant(undefined),
      secondsArb.map((seconds) => ({ seconds })),
      secondsArb.map((seconds) => create(TimestampSchema, { seconds })),
    ),
  },
  { requiredKeys: [] },
);

describe("encodeMintTokenResponse matches protobuf-es byte for byte", () => {
  it("for any token, id and whole-second expiry (property)", () => {
    fc.assert(
      fc.property(mintInitArb, (init) => {
        const bytes = expectSameMintBytes(init);
        const back = fromBinary(MintTokenResponseSchema, bytes);
        expect(back.token).toBe(utf8(init.token ?? ""));
        expect(back.tokenId).toBe(utf8(init.tokenId ?? ""));
        expect(back.expiresAt?.seconds).toBe(init.expiresAt?.seconds ?? undefined);
      }),
      { numRuns: 500 },
    );
  });

  it("for a minted answer: a token of about 500 bytes, its expiry and its id", () => {
    const token = `${"h".repeat(60)}.${"c".repeat(380)}.${"s".repeat(86)}`;
    const bytes = expectSameMintBytes({
      token,
      expiresAt: create(TimestampSchema, { seconds: 1_700_000_600n }),
      tokenId: "6a1f3c1e-0000-4000-8000-000000000001",
    });
    expect(fromBinary(MintTokenResponseSchema, bytes).token).toBe(token);
  });

  it("for the empty response, and an expiry of 0 (written, empty)", () => {
    expect(expectSameMintBytes({})).toHaveLength(0);
    expect(expectSameMintBytes({ expiresAt: { seconds: 0n } }).toString("hex")).toBe("1200");
  });

  it("falls back to protobuf-es for nanos, a negative expiry or unknown fields, with the same bytes", () => {
    expectSameMintBytes({ token: "t", expiresAt: { seconds: 5n, nanos: 1 } });
    expectSameMintBytes({ token: "t", expiresAt: { seconds: -1n } });
    const known = Buffer.from(
      toBinary(MintTokenResponseSchema, create(MintTokenResponseSchema, { token: "t" })),
    );
    const message = fromBinary(MintTokenResponseSchema, Buffer.concat([known, Buffer.from([0x78, 0x2a])]));
    expect(encodeMintTokenResponse(message).toString("hex")).toBe(
      Buffer.from(toBinary(MintTokenResponseSchema, message)).toString("hex"),
    );
  });
});
