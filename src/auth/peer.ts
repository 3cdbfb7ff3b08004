import type { PeerCertificate } from "node:tls";
import type { PeerIdentity } from "../domain/principal.js";

/**
 * The identity a verified client certificate proves, with where it came from: its SPIFFE ID
 * (source `spiffe`: the certificate's one `URI:spiffe://` subject alternative name), else its
 * subject common name (source `cn`, whatever the name says, even `spiffe://…`).
 *
 * An X.509-SVID carries exactly one URI SAN; a certificate with a SPIFFE URI among several
 * URI SANs names no single workload, so it proves no identity at all (rather than whichever
 * came first). Node escapes SAN values containing `, ` inside quotes, so splitting on `, `
 * cannot be fooled by a name that embeds one.
 */
export function peerIdentity(cert: PeerCertificate | undefined | null): PeerIdentity | undefined {
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const uris = (cert.subjectaltname ?? "")
    .split(", ")
    .filter((entry) => entry.startsWith("URI:"))
    .map((entry) => entry.slice(4));
  if (uris.some((uri) => uri.startsWith("spiffe://"))) {
    const [only] = uris;
    return uris.length === 1 && only ? { id: only, source: "spiffe" } : undefined;
  }
  const cn = cert.subject?.CN;
  const name = Array.isArray(cn) ? cn[0] : cn;
  return name ? { id: name, source: "cn" } : undefined;
}
