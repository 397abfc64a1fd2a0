// validate_objects.mjs: checks every object of rendered manifests (helm template output) against
// the Kubernetes API, as far as it can be known without a cluster.
//
//   node validate_objects.mjs RENDER.yaml...      (NODE_PATH: the chart-tools node_modules)
//
// Per object:
//   1. the OpenAPI schema of its kind (kubernetes-models, @kubernetes-models/prometheus-operator):
//      types, enums, required fields, formats;
//   2. unknown fields: the objects are type-checked by TypeScript against the same models' types,
//      whose excess-property check rejects any field the API does not define (the schemas above
//      let unknown fields through; `kubectl apply` with strict validation does not);
//   3. VolumeSnapshotClass (no npm package carries the external-snapshotter types): a local
//      interface transcribed from the snapshot.storage.k8s.io/v1 CRD, checked the same way.
// Across objects of one render (what the API server does not check but the driver relies on):
//   names and label values are valid, container port names are unique and at most 15 characters,
//   volume mounts and named probe ports resolve, Services select a pod template that has their
//   target port, bindings point at roles and service accounts of the render, ServiceMonitors select
//   a Service with their port, and CSIDriver, StorageClass and VolumeSnapshotClass agree on the
//   driver name.
// Prints one line per render and every problem; exits 1 if there is any.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const nodePath = process.env.NODE_PATH;
if (!nodePath) {
  console.error("validate_objects.mjs: NODE_PATH must point at the chart-tools node_modules");
  process.exit(2);
}
const load = (rel) => import(pathToFileURL(path.join(nodePath, rel)).href);
const YAML = await load("yaml/dist/index.js");
const ts = (await load("typescript/lib/typescript.js")).default;

// apiVersion -> [package, folder] of the models.
const groups = {
  "v1": ["kubernetes-models", "v1"],
  "apps/v1": ["kubernetes-models", "apps/v1"],
  "policy/v1": ["kubernetes-models", "policy/v1"],
  "rbac.authorization.k8s.io/v1": ["kubernetes-models", "rbac.authorization.k8s.io/v1"],
  "storage.k8s.io/v1": ["kubernetes-models", "storage.k8s.io/v1"],
  "monitoring.coreos.com/v1": ["@kubernetes-models/prometheus-operator", "monitoring.coreos.com/v1"],
};
const clusterScoped = new Set(["CSIDriver", "StorageClass", "VolumeSnapshotClass", "ClusterRole",
                               "ClusterRoleBinding", "Namespace"]);

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const labelKey = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

// The VolumeSnapshotClass of snapshot.storage.k8s.io/v1, from the external-snapshotter CRD.
const snapshotClassTypes = `
import type { IObjectMeta } from "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta";
export interface IVolumeSnapshotClass {
  apiVersion: "snapshot.storage.k8s.io/v1";
  kind: "VolumeSnapshotClass";
  metadata?: IObjectMeta;
  driver: string;
  deletionPolicy: "Delete" | "Retain";
  parameters?: { [key: string]: string };
}
`;

function podSpecOf(obj) {
  if (["StatefulSet", "DaemonSet", "Deployment"].includes(obj.kind)) return obj.spec?.template?.spec;
  return undefined;
}

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

async function schemaCheck(obj, where, problems) {
  if (obj.apiVersion === "snapshot.storage.k8s.io/v1" && obj.kind === "VolumeSnapshotClass") {
    if (typeof obj.driver !== "string" || obj.driver === "") problems.push(`${where}: driver must be a non-empty string`);
    if (!["Delete", "Retain"].includes(obj.deletionPolicy)) problems.push(`${where}: deletionPolicy must be Delete or Retain`);
    for (const [k, v] of Object.entries(obj.parameters ?? {})) {
      if (typeof v !== "string") problems.push(`${where}: parameters.${k} must be a string`);
    }
    return "IVolumeSnapshotClass";
  }
  const group = groups[obj.apiVersion];
  if (!group) {
    problems.push(`${where}: no schema known for apiVersion ${obj.apiVersion}`);
    return null;
  }
  const modulePath = `${group[0]}/${group[1]}/${obj.kind}`;
  let mod;
  try {
    mod = await load(`${modulePath}.js`);
  } catch {
    problems.push(`${where}: no schema known for ${obj.apiVersion} ${obj.kind}`);
    return null;
  }
  const Model = mod[obj.kind];
  try {
    new Model(obj).validate();
  } catch (e) {
    problems.push(`${where}: schema: ${e.message}`);
  }
  return { modulePath, type: `I${obj.kind}` };
}

// Type-checks every object literal against its kind's interface: unknown fields are errors.
function unknownFieldCheck(entries, problems) {
  const dir = fs.mkdtempSync(path.join(path.dirname(nodePath), ".check-"));
  try {
    const lines = [];
    const imports = new Map();
    let needSnapshot = false;
    entries.forEach(({ obj, typeRef }, index) => {
      let typeName;
      if (typeRef === "IVolumeSnapshotClass") {
        needSnapshot = true;
        typeName = "IVolumeSnapshotClass";
      } else {
        const alias = `T${imports.size}`;
        if (!imports.has(typeRef.modulePath)) imports.set(typeRef.modulePath, { alias, type: typeRef.type });
        typeName = imports.get(typeRef.modulePath).alias;
      }
      lines.push(`// object ${index}`);
      lines.push(`export const o${index}: ${typeName} = ${JSON.stringify(obj, null, 2)};`);
    });
    const header = [...imports.entries()].map(
      ([modulePath, { alias, type }]) => `import type { ${type} as ${alias} } from "${modulePath}";`);
    if (needSnapshot) {
      fs.writeFileSync(path.join(dir, "snapshot.ts"), snapshotClassTypes);
      header.push(`import type { IVolumeSnapshotClass } from "./snapshot.js";`);
    }
    const file = path.join(dir, "objects.ts");
    const source = header.join("\n") + "\n" + lines.join("\n") + "\n";
    fs.writeFileSync(file, source);
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, skipLibCheck: true, types: [],
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    const sourceLines = source.split("\n");
    for (const d of ts.getPreEmitDiagnostics(program)) {
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      let where = "typescript";
      if (d.file && d.start !== undefined) {
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        // The nearest "// object N" above the error names the object.
        for (let l = line; l >= 0; l--) {
          const m = /^\/\/ object (\d+)$/.exec(sourceLines[l] ?? "");
          if (m) {
            where = entries[Number(m[1])].where;
            break;
          }
        }
        where += ` (line ${line + 1}: ${sourceLines[line].trim()})`;
      }
      problems.push(`${where}: ${text.split("\n")[0]}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function crossChecks(objects, problems) {
  const byKind = (kind) => objects.filter(({ obj }) => obj.kind === kind);
  const names = new Set();
  for (const { obj, where } of objects) {
    const name = obj.metadata?.name;
    const key = `${obj.apiVersion}/${obj.kind}/${obj.metadata?.namespace ?? ""}/${name}`;
    if (names.has(key)) problems.push(`${where}: duplicate object`);
    names.add(key);
    const nameOk = obj.kind === "Service" ? dns1123Label.test(name) && name.length <= 63
                                          : dns1123Subdomain.test(name) && name.length <= 253;
    if (!nameOk) problems.push(`${where}: invalid name`);
    const namespaced = !clusterScoped.has(obj.kind);
    if (namespaced !== Boolean(obj.metadata?.namespace)) {
      problems.push(`${where}: ${namespaced ? "namespaced object without" : "cluster-scoped object with"} a namespace`);
    }
    const labelSets = [obj.metadata?.labels, podSpecOf(obj) && obj.spec.template.metadata?.labels];
    for (const labels of labelSets) {
      for (const [k, v] of Object.entries(labels ?? {})) {
        if (!labelKey.test(k)) problems.push(`${where}: invalid label key ${k}`);
        if (typeof v !== "string" || v.length > 63 || !labelValue.test(v)) {
          problems.push(`${where}: invalid value for label ${k}: ${JSON.stringify(v)}`);
        }
      }
    }
    const pod = podSpecOf(obj);
    if (!pod) continue;
    if (!matches(obj.spec.selector?.matchLabels, obj.spec.template.metadata?.labels)) {
      problems.push(`${where}: selector does not match the pod template's labels`);
    }
    const volumes = new Set((pod.volumes ?? []).map((v) => v.name));
    for (const t of obj.spec.volumeClaimTemplates ?? []) volumes.add(t.metadata?.name);
    const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
    const portNames = new Set();
    const containerNames = new Set();
    for (const c of containers) {
      if (containerNames.has(c.name)) problems.push(`${where}: duplicate container ${c.name}`);
      containerNames.add(c.name);
      for (const p of c.ports ?? []) {
        if (!p.name) continue;
        if (p.name.length > 15) problems.push(`${where}: port name ${p.name} is longer than 15 characters`);
        if (portNames.has(p.name)) problems.push(`${where}: duplicate port name ${p.name}`);
        portNames.add(p.name);
      }
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) problems.push(`${where}: container ${c.name} mounts unknown volume ${m.name}`);
        if (m.mountPropagation === "Bidirectional" && !c.securityContext?.privileged) {
          problems.push(`${where}: container ${c.name}: Bidirectional propagation needs a privileged container`);
        }
      }
    }
    for (const c of containers) {
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (typeof port === "string" && !portNames.has(port)) {
          problems.push(`${where}: container ${c.name} probes unknown port ${port}`);
        }
      }
    }
    if (pod.hostNetwork) {
      const numbers = containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
      if (new Set(numbers).size !== numbers.length) problems.push(`${where}: host network pod uses a port twice`);
    }
  }
  // Services: each selects a pod template that has the target port.
  const workloads = objects.filter(({ obj }) => podSpecOf(obj));
  const services = byKind("Service");
  for (const { obj, where } of services) {
    const selected = workloads.filter((w) => matches(obj.spec.selector, w.obj.spec.template.metadata?.labels)
                                            && w.obj.metadata.namespace === obj.metadata.namespace);
    if (selected.length === 0) {
      problems.push(`${where}: selects no pod template of the render`);
      continue;
    }
    for (const port of obj.spec.ports ?? []) {
      const target = port.targetPort ?? port.port;
      const found = selected.some((w) => podSpecOf(w.obj).containers.some((c) => (c.ports ?? []).some(
        (p) => (typeof target === "string" ? p.name === target : p.containerPort === target))));
      if (!found) problems.push(`${where}: target port ${target} is not a port of the selected pods`);
    }
  }
  // RBAC: bindings point at roles and service accounts that exist in the render.
  const has = (kind, name, namespace) => objects.some(({ obj }) => obj.kind === kind && obj.metadata.name === name
                                                      && (namespace === undefined || obj.metadata.namespace === namespace));
  for (const { obj, where } of [...byKind("ClusterRoleBinding"), ...byKind("RoleBinding")]) {
    const ns = obj.kind === "RoleBinding" && obj.roleRef.kind === "Role" ? obj.metadata.namespace : undefined;
    if (!has(obj.roleRef.kind, obj.roleRef.name, ns)) problems.push(`${where}: roleRef ${obj.roleRef.kind}/${obj.roleRef.name} is not in the render`);
    for (const s of obj.subjects ?? []) {
      if (s.kind === "ServiceAccount" && !has("ServiceAccount", s.name, s.namespace)) {
        problems.push(`${where}: subject ServiceAccount ${s.namespace}/${s.name} is not in the render`);
      }
    }
  }
  for (const { obj, where } of workloads) {
    const sa = podSpecOf(obj).serviceAccountName;
    if (sa && !has("ServiceAccount", sa, obj.metadata.namespace)) problems.push(`${where}: ServiceAccount ${sa} is not in the render`);
  }
  // ServiceMonitors select a Service that has their port.
  for (const { obj, where } of byKind("ServiceMonitor")) {
    const namespaces = obj.spec.namespaceSelector?.matchNames ?? [obj.metadata.namespace];
    const selected = services.filter(({ obj: s }) => namespaces.includes(s.metadata.namespace)
                                                     && matches(obj.spec.selector?.matchLabels, s.metadata.labels));
    if (selected.length !== 1) problems.push(`${where}: selects ${selected.length} Services, want 1`);
    for (const ep of obj.spec.endpoints ?? []) {
      if (!selected.some(({ obj: s }) => s.spec.ports.some((p) => p.name === ep.port))) {
        problems.push(`${where}: endpoint port ${ep.port} is not a port of the selected Service`);
      }
    }
  }
  // One driver name across CSIDriver, StorageClass and VolumeSnapshotClass.
  const drivers = byKind("CSIDriver").map(({ obj }) => obj.metadata.name);
  if (drivers.length !== 1) problems.push(`render: ${drivers.length} CSIDriver objects, want 1`);
  for (const { obj, where } of byKind("StorageClass")) {
    if (!drivers.includes(obj.provisioner)) problems.push(`${where}: provisioner ${obj.provisioner} is not the CSIDriver`);
  }
  for (const { obj, where } of byKind("VolumeSnapshotClass")) {
    if (!drivers.includes(obj.driver)) problems.push(`${where}: driver ${obj.driver} is not the CSIDriver`);
  }
}

let failed = false;
for (const file of process.argv.slice(2)) {
  const problems = [];
  const objects = [];
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length) {
      problems.push(`${file}: YAML: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const where = `${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"}`;
    if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string" || !obj.metadata?.name) {
      problems.push(`${where}: apiVersion, kind and metadata.name are required`);
      continue;
    }
    const typeRef = await schemaCheck(obj, where, problems);
    objects.push({ obj, where, typeRef });
  }
  unknownFieldCheck(objects.filter((o) => o.typeRef), problems);
  crossChecks(objects, problems);
  const kinds = {};
  for (const { obj } of objects) kinds[obj.kind] = (kinds[obj.kind] ?? 0) + 1;
  const summary = Object.entries(kinds).sort().map(([k, n]) => `${n} ${k}`).join(", ");
  console.log(`${path.basename(file)}: ${objects.length} objects (${summary}): ${problems.length ? "FAIL" : "ok"}`);
  for (const p of problems) console.log(`  ${p}`);
  if (problems.length) failed = true;
}
process.exit(failed ? 1 : 0);
