import "reflect-metadata";
import { randomBytes, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** A CA that can issue server and client certificates (for development and tests only). */
export interface DevCa extends PemPair {
  issueServer(opts?: {
    dnsNames?: string[];
    ips?: string[];
    spiffeId?: string;
    days?: number;
  }): Promise<PemPair>;
  issueClient(opts: {
    commonName: string;
    spiffeId?: string | undefined;
    days?: number;
    notAfter?: Date;
  }): Promise<PemPair>;
}

function serial(): string {
  // Positive, non-zero 16-byte serial.
  return `01${randomBytes(15).toString("hex")}`;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** Creates a self-signed development CA (ECDSA P-256) named `name`. */
export async function createDevCa(name = "Tessera Development CA", days = 365): Promise<DevCa> {
  const caKeys = await newKeys();
  const caName = `CN=${name}`;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + days * DAY_MS),
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  async function issue(
    subject: string,
    sans: x509.JsonGeneralName[],
    usage: string,
    notAfter: Date,
  ): Promise<PemPair> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject,
      issuer: caName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter,
      signingKey: caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
          true,
        ),
        new x509.ExtendedKeyUsageExtension([usage]),
        new x509.SubjectAlternativeNameExtension(sans),
        await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ],
    });
    return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
  }

  return {
    cert: caCert.toString("pem"),
    key: await keyPem(caKeys.privateKey),
    issueServer: (o = {}) =>
      issue(
        "CN=tessera",
        [
          ...(o.dnsNames ?? ["localhost"]).map((value) => ({ type: "dns" as const, value })),
          ...(o.ips ?? ["127.0.0.1", "::1"]).map((value) => ({ type: "ip" as const, value })),
          ...(o.spiffeId ? [{ type: "url" as const, value: o.spiffeId }] : []),
        ],
        x509.ExtendedKeyUsage.serverAuth,
        new Date(Date.now() + (o.days ?? 365) * DAY_MS),
      ),
    issueClient: (o) =>
      issue(
        `CN=${o.commonName}`,
        o.spiffeId ? [{ type: "url", value: o.spiffeId }] : [{ type: "dns", value: o.commonName }],
        x509.ExtendedKeyUsage.clientAuth,
        o.notAfter ?? new Date(Date.now() + (o.days ?? 365) * DAY_MS),
      ),
  };
}
