import type { DescFile } from "@bufbuild/protobuf";
import { toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";

/** Every file the given files need, dependencies first, each once. */
function withDependencies(files: readonly DescFile[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (f: DescFile): void => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    for (const dep of f.dependencies) visit(dep);
    out.push(f);
  };
  for (const f of files) visit(f);
  return out;
}

/**
 * Adds gRPC server reflection (v1 and v1alpha) describing the given files, so grpcurl and
 * `buf curl` can list and call every method with no proto files at hand.
 *
 * ReflectionService reads only `fileDescriptorProtos` from a package definition. We give it
 * protobuf-es's exact descriptor bytes rather than going through @grpc/proto-loader, whose
 * re-serialized descriptors lose their `dependency` lists (clients then cannot resolve imports).
 */
export function addReflection(server: grpc.Server, files: readonly DescFile[]): void {
  const fileDescriptorProtos = withDependencies(files).map((f) =>
    Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)),
  );
  const definition = { files: { fileDescriptorProtos } };
  new ReflectionService(
    definition as unknown as ConstructorParameters<typeof ReflectionService>[0],
  ).addToServer(server);
}
