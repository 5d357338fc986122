// Drives chamberlain's gRPC API with the official JavaScript SDK (@cerbos/grpc) and prints what it answered.
// Usage: node cerbos_grpc_client.mjs <path to @cerbos/grpc's lib/index.js> <host:port>
import { pathToFileURL } from "node:url";

const [modulePath, target] = process.argv.slice(2);
const { GRPC } = await import(pathToFileURL(modulePath).href);
const cerbos = new GRPC(target, { tls: false });

const principal = {
  id: "john", roles: ["employee"], policyVersion: "20210210",
  attr: { department: "marketing", geography: "GB", team: "design" },
};
const resource = {
  kind: "leave_request", id: "XX125", policyVersion: "20210210",
  attr: { department: "marketing", geography: "GB", owner: "john", team: "design" },
};
const out = {};
out.version = (await cerbos.serverInfo()).version;
const decision = await cerbos.checkResource({ principal, resource, actions: ["view:public", "approve"], requestId: "js-1" });
out.check = { viewPublic: decision.isAllowed("view:public"), approve: decision.isAllowed("approve") };
const delegated = await cerbos.checkResource(
  { principal, resource, actions: ["view:public"] },
  { headers: { "x-chamberlain-delegation": JSON.stringify({ actors: [{ id: "agent-7", roles: ["agent"] }] }) } },
);
out.delegatedViewPublic = delegated.isAllowed("view:public");
const plan = await cerbos.planResources({ principal, resource: { kind: "leave_request", policyVersion: "20210210" }, action: "view" });
out.planKind = plan.kind;
try {
  await cerbos.checkResource({ principal: { ...principal, id: "" }, resource, actions: ["view:public"] });
  out.invalid = "no error";
} catch (error) {
  out.invalid = { code: error.code, details: error.details };
}
out.healthy = (await cerbos.checkHealth()).status;
cerbos.close();
console.log(JSON.stringify(out));
