// Target 1, the limit: bench/limit-server.mjs with as many processes as Tessera. With
// `mintTemplate` ({header, claims} of a token Tessera minted), its MintToken signs (issue #15).
import { fileURLToPath } from "node:url";
import { freePorts, start, waitFor } from "../proc.mjs";

const SERVER = fileURLToPath(new URL("../limit-server.mjs", import.meta.url));

export async function startLimit(workers, mintTemplate) {
  const [port] = await freePorts(1);
  const args = [SERVER, String(port), String(workers)];
  if (mintTemplate) args.push(JSON.stringify(mintTemplate));
  const proc = start(mintTemplate ? "limit (signing)" : "limit", process.execPath, args);
  await waitFor("the limit server to listen", () => proc.out.includes("limit listening"), {
    proc,
    timeoutMs: 20_000,
  });
  return { name: "limit", port, proc };
}

const CONNECT_SERVER = fileURLToPath(new URL("../connect-limit-server.mjs", import.meta.url));

/** The HTTP port's limit (issue #15): bare connect-node on node:http, as many processes as Tessera. */
export async function startConnectLimit(workers) {
  const [port] = await freePorts(1);
  const proc = start("connect-limit", process.execPath, [CONNECT_SERVER, String(port), String(workers)]);
  await waitFor(
    "the connect-node limit server to listen",
    () => proc.out.includes("connect limit listening"),
    {
      proc,
      timeoutMs: 20_000,
    },
  );
  return { name: "limit", port, httpPort: port, proc };
}
