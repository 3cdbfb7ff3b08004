import type { PeerCertificate } from "node:tls";
import type { PeerIdentity } from "../domain/principal.js";

/**
 * The identity a verified client certificate proves: its SPIFFE ID (the first
 * `URI:spiffe://` subject alternative name), else its subject common name.
 */
export function peerIdentity(cert: PeerCertificate | undefined | null): PeerIdentity | undefined {
  if (!cert || Object.keys(cert).length === 0) return undefined;
  for (const entry of (cert.subjectaltname ?? "").split(", ")) {
    if (entry.startsWith("URI:spiffe://")) return { id: entry.slice(4), source: "spiffe" };
  }
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return name ? { id: name, source: "cn" } : undefined;
}
