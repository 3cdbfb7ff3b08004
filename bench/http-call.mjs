// Real HTTP/1.1 calls (node:http): the checks of the plain JSON cases (AuthZEN) before measuring.
import http from "node:http";

/**
 * POSTs `body` to `path` on `port` on a fresh connection (so successive calls land on
 * successive cluster workers). Resolves { status, headers, text, json }; rejects when the
 * connection fails or the answer takes over `timeoutMs`.
 */
export function httpPost(port, path, body, headers = {}, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: { "content-length": Buffer.byteLength(body), ...headers },
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`POST ${path}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}
