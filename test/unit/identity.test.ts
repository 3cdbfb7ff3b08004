import type { PeerCertificate } from "node:tls";
import { describe, expect, it } from "vitest";
import { peerIdentity } from "../../src/auth/peer.js";
import { TesseraError } from "../../src/domain/errors.js";
import {
  formatIdentity,
  formatNamespace,
  isSpiffeId,
  namespaceCovers,
  namespacesOverlap,
  parseNamespace,
  parseServiceIdentity,
} from "../../src/domain/identity.js";

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
    return "";
  } catch (err) {
    expect(err).toBeInstanceOf(TesseraError);
    return (err as TesseraError).reason;
  }
};

describe("SPIFFE IDs and identities", () => {
  it.each([
    ["spiffe://example.org", true],
    ["spiffe://example.org/payments/api", true],
    ["spiffe://example.org/", false],
    ["spiffe://Example.org/a", false],
    ["spiffe://example.org//a", false],
    ["spiffe://example.org/a/../b", false],
    ["spiffe://example.org/./a", false],
    ["spiffe://example.org/a%2Fb", false],
    ["spiffe://example.org/a?b", false],
    ["spiffe://example.org/a#b", false],
    [`spiffe://example.org/${"a".repeat(2048)}`, false],
    ["https://example.org/a", false],
  ])("isSpiffeId(%s) is %s", (text, ok) => {
    expect(isSpiffeId(text)).toBe(ok);
  });

  it("reads spiffe://… as a SPIFFE ID and anything else as a CN, and refuses a contradicting source", () => {
    expect(parseServiceIdentity("spiffe://example.org/a")).toEqual({
      source: "spiffe",
      id: "spiffe://example.org/a",
    });
    expect(parseServiceIdentity("billing-worker")).toEqual({ source: "cn", id: "billing-worker" });
    expect(parseServiceIdentity("billing-worker", "cn")).toEqual({ source: "cn", id: "billing-worker" });
    expect(reasonOf(() => parseServiceIdentity("spiffe://example.org/a", "cn"))).toBe("IDENTITY_INVALID");
    expect(reasonOf(() => parseServiceIdentity("billing-worker", "spiffe"))).toBe("IDENTITY_INVALID");
    expect(reasonOf(() => parseServiceIdentity("spiffe://example.org/a/../b"))).toBe("IDENTITY_INVALID");
    expect(reasonOf(() => parseServiceIdentity(""))).toBe("IDENTITY_INVALID");
  });

  it("writes a CN identity as cn:NAME, so it never reads as a SPIFFE ID", () => {
    expect(formatIdentity({ source: "cn", id: "spiffe://example.org/a" })).toBe("cn:spiffe://example.org/a");
    expect(formatIdentity({ source: "spiffe", id: "spiffe://example.org/a" })).toBe("spiffe://example.org/a");
  });
});

describe("identity namespaces", () => {
  it.each([
    ["spiffe://example.org/", { source: "spiffe", pattern: "spiffe://example.org/", match: "prefix" }],
    ["spiffe://example.org", { source: "spiffe", pattern: "spiffe://example.org/", match: "prefix" }],
    [
      "spiffe://example.org/payments/",
      { source: "spiffe", pattern: "spiffe://example.org/payments/", match: "prefix" },
    ],
    [
      "spiffe://example.org/payments",
      { source: "spiffe", pattern: "spiffe://example.org/payments", match: "exact" },
    ],
    ["cn:billing-worker", { source: "cn", pattern: "billing-worker", match: "exact" }],
  ])("parses %s", (text, ns) => {
    expect(parseNamespace(text)).toEqual(ns);
    expect(parseNamespace(formatNamespace(parseNamespace(text)))).toEqual(ns);
  });

  it.each([
    "",
    "example.org",
    "spiffe://",
    "spiffe:///a/",
    "spiffe://example.org//",
    "cn:",
    "cn:a/b",
    "billing",
  ])("refuses %j with NAMESPACE_INVALID", (text) => {
    expect(reasonOf(() => parseNamespace(text))).toBe("NAMESPACE_INVALID");
  });

  const covers = (ns: string, source: "spiffe" | "cn", id: string) =>
    namespaceCovers(parseNamespace(ns), { source, id });

  it.each<[string, "spiffe" | "cn", string, boolean]>([
    ["spiffe://example.org/", "spiffe", "spiffe://example.org/a/b", true],
    ["spiffe://example.org/", "spiffe", "spiffe://example.org", true],
    ["spiffe://example.org/", "spiffe", "spiffe://example.org.evil/a", false],
    ["spiffe://example.org/payments/", "spiffe", "spiffe://example.org/payments", true],
    ["spiffe://example.org/payments/", "spiffe", "spiffe://example.org/payments/api", true],
    // Whole segments only: /payments does not cover /payments-evil or /paymentsx.
    ["spiffe://example.org/payments/", "spiffe", "spiffe://example.org/payments-evil", false],
    ["spiffe://example.org/payments", "spiffe", "spiffe://example.org/payments/api", false],
    ["spiffe://example.org/payments", "spiffe", "spiffe://example.org/payments", true],
    // A CN is never inside a SPIFFE namespace, whatever it says, and the other way round.
    ["spiffe://example.org/", "cn", "spiffe://example.org/payments", false],
    ["cn:billing-worker", "cn", "billing-worker", true],
    ["cn:billing-worker", "spiffe", "billing-worker", false],
    ["cn:billing-worker", "cn", "billing-worker-2", false],
  ])("%s covers %s %s: %s", (ns, source, id, expected) => {
    expect(covers(ns, source, id)).toBe(expected);
  });

  it.each([
    ["spiffe://example.org/", "spiffe://example.org/payments/", true],
    ["spiffe://example.org/payments/", "spiffe://example.org/payments/api", true],
    ["spiffe://example.org/payments/", "spiffe://example.org/payments", true],
    ["spiffe://example.org/payments/", "spiffe://example.org/payroll/", false],
    ["spiffe://example.org/pay/", "spiffe://example.org/payments/", false],
    ["spiffe://example.org/", "spiffe://example.com/", false],
    ["spiffe://example.org/a", "spiffe://example.org/a", true],
    ["cn:a", "cn:a", true],
    ["cn:a", "cn:b", false],
  ])("%s and %s overlap: %s", (a, b, expected) => {
    expect(namespacesOverlap(parseNamespace(a), parseNamespace(b))).toBe(expected);
    expect(namespacesOverlap(parseNamespace(b), parseNamespace(a))).toBe(expected);
  });
});

describe("the identity a client certificate proves", () => {
  const cert = (subjectaltname: string | undefined, cn: string) =>
    ({ subject: { CN: cn }, ...(subjectaltname === undefined ? {} : { subjectaltname }) }) as PeerCertificate;

  it("takes the one SPIFFE URI SAN as a SPIFFE identity", () => {
    expect(peerIdentity(cert("DNS:gw, URI:spiffe://td/gw", "gw"))).toEqual({
      id: "spiffe://td/gw",
      source: "spiffe",
    });
  });

  it("takes the CN as a CN identity, even when it reads like a SPIFFE ID", () => {
    expect(peerIdentity(cert("DNS:x", "spiffe://td/payments"))).toEqual({
      id: "spiffe://td/payments",
      source: "cn",
    });
    expect(peerIdentity(cert(undefined, "spiffe://td/payments"))?.source).toBe("cn");
  });

  it("proves nothing when a SPIFFE URI SAN is one of several URI SANs (not an X.509-SVID)", () => {
    expect(peerIdentity(cert("URI:spiffe://td/a, URI:spiffe://td/b", "a"))).toBeUndefined();
    expect(peerIdentity(cert("URI:https://td/x, URI:spiffe://td/a", "a"))).toBeUndefined();
  });

  it("is not fooled by a SAN value that embeds `, URI:spiffe://` (Node quotes and escapes it)", () => {
    const forged = cert('DNS:"x\\u002c URI:spiffe://td/payments"', "x");
    expect(peerIdentity(forged)).toEqual({ id: "x", source: "cn" });
  });
});
