import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HeaderValueOption_HeaderAppendAction as AppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import { CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode } from "../../gen/envoy/type/v3/http_status_pb.js";
import { encodeCheckResponse } from "../../src/rpc/ext-authz-encoder.js";

/*
 * The hand-written CheckResponse encoder against protobuf-es: for every shape rpc/ext-authz.ts
 * answers (and the ones it hands on), the bytes read back as the same message protobuf-es's own
 * encoding reads back as.
 */

type Init = MessageInitShape<typeof CheckResponseSchema>;

const set = (key: string, value: string) => ({
  header: { key, value },
  appendAction: AppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
});

const metadata = {
  decision: "ALLOW",
  reason: "ALLOWED_BY_RULE",
  rule: "todos/list",
  policy_revision: 7,
  decision_id: "0b9f2c1e-5a77-4c3e-9a51-0f1e2d3c4b5a",
};

const CASES: [string, Init][] = [
  ["an empty response", {}],
  [
    "an allow",
    {
      status: { code: 0 },
      httpResponse: {
        case: "okResponse",
        value: { headers: [set("x-tessera-decision-id", "d-1"), set("x-tessera-principal", "agent-ü")] },
      },
      dynamicMetadata: metadata,
    },
  ],
  [
    "an allow with a minted token",
    {
      status: { code: 0 },
      httpResponse: {
        case: "okResponse",
        value: {
          headers: [set("x-tessera-decision-id", "d-1"), set("authorization", `Bearer ${"e".repeat(900)}`)],
        },
      },
      dynamicMetadata: { ...metadata, policy_revision: 2 ** 40 + 0.5 },
    },
  ],
  [
    "a deny",
    {
      status: { code: 7, message: "denied" },
      httpResponse: {
        case: "deniedResponse",
        value: {
          status: { code: StatusCode.Forbidden },
          headers: [set("content-type", "application/json")],
          body: '{"reason":"NO_MATCHING_RULE","decision_id":"d-2"}',
        },
      },
      dynamicMetadata: { ...metadata, decision: "DENY", rule: "", policy_revision: 0 },
    },
  ],
  [
    "a header with the default append action and an empty value",
    {
      httpResponse: { case: "okResponse", value: { headers: [{ header: { key: "k", value: "" } }, {}] } },
    },
  ],
  [
    "what it hands on: headers to remove, nested metadata",
    {
      httpResponse: { case: "okResponse", value: { headersToRemove: ["cookie"] } },
      dynamicMetadata: { nested: { a: [1, true, null] } },
    },
  ],
];

describe("encodeCheckResponse", () => {
  it.each(CASES)("%s reads back as protobuf-es's encoding does", (_name, init) => {
    const ours = fromBinary(CheckResponseSchema, encodeCheckResponse(init));
    const theirs = fromBinary(
      CheckResponseSchema,
      toBinary(CheckResponseSchema, create(CheckResponseSchema, init)),
    );
    expect(ours).toEqual(theirs);
  });

  it("writes the allow's bytes exactly as protobuf-es does (field and map order kept)", () => {
    const init = CASES[1]?.[1] as Init;
    expect(encodeCheckResponse(init)).toEqual(
      Buffer.from(toBinary(CheckResponseSchema, create(CheckResponseSchema, init))),
    );
  });
});
