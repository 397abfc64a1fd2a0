// metrics_check.mjs: the monitoring objects of a render (helm template output with every metrics
// switch on) against the metrics the binary exposes (tests/metrics/metric_names.txt).
//
//   node metrics_check.mjs RENDER.yaml METRIC_NAMES.txt DASHBOARD.json OUT_DIR
//   (NODE_PATH: the chart-tools node_modules)
//
// Checks, printing every problem and exiting 1 if there is any:
//   - the render has one PrometheusRule; every alert has a severity label (warning or critical), a
//     summary and a description, and every expression names only listed metrics (or `up`);
//   - the dashboard file parses, the ConfigMap carries it byte for byte, panel ids are unique,
//     every panel but rows queries the ${datasource} variable with at least one expression, every
//     expression and template query names only listed metrics, and every listed metric is shown
//     by at least one panel;
// and writes, for promtool (which knows PromQL better than this file):
//   OUT_DIR/rules.yaml            the PrometheusRule's spec, a Prometheus rule file
//   OUT_DIR/rules-bare.yaml       the same without annotations, for `promtool test rules`
//                                 (alerts_test.yaml), which would compare their whole text
//   OUT_DIR/dashboard-rules.yaml  each dashboard expression as a recording rule, Grafana's
//                                 variables replaced by values of the same shape
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const nodePath = process.env.NODE_PATH;
if (!nodePath) {
  console.error("metrics_check.mjs: NODE_PATH must point at the chart-tools node_modules");
  process.exit(2);
}
const YAML = await import(pathToFileURL(path.join(nodePath, "yaml/dist/index.js")).href);
const [renderFile, namesFile, dashboardFile, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: metrics_check.mjs RENDER.yaml METRIC_NAMES.txt DASHBOARD.json OUT_DIR");
  process.exit(2);
}
const problems = [];

// NAME TYPE PROCESS [NEEDS] per line; # comments.
const metrics = new Map();
for (const line of fs.readFileSync(namesFile, "utf8").split("\n")) {
  const fields = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
  if (fields.length === 0) continue;
  if (fields.length < 3 || !["counter", "gauge", "histogram"].includes(fields[1])) {
    problems.push(`${namesFile}: bad line: ${line}`);
    continue;
  }
  metrics.set(fields[0], fields[1]);
}
// Series names Prometheus itself adds to every scrape.
const builtins = new Set(["up"]);

// The listed metric a series name belongs to (histograms: _bucket, _sum, _count), or null.
function listedMetric(series) {
  if (metrics.has(series) && metrics.get(series) !== "histogram") return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (m && metrics.get(m[1]) === "histogram") return m[1];
  return null;
}

const keywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                          "and", "or", "unless", "offset", "inf", "nan", "atan2"]);

// metricNames: the series names an expression selects. Strings, label matchers, ranges and the
// label lists of grouping modifiers are removed first; what is left that is an identifier not
// followed by "(" (a function or aggregation) and not a keyword is a series name.
function metricNames(expr) {
  let s = expr.replace(/"(\\.|[^"\\])*"|'(\\.|[^'\\])*'|`[^`]*`/g, '""');
  s = s.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ");
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = [];
  const token = /[A-Za-z_:][A-Za-z0-9_:]*|[0-9][0-9A-Za-z_.]*|\S/g;
  let m;
  while ((m = token.exec(s)) !== null) {
    const word = m[0];
    if (!/^[A-Za-z_:]/.test(word)) continue;
    if (keywords.has(word.toLowerCase())) continue;
    if (/^\s*\(/.test(s.slice(token.lastIndex))) continue;
    names.push(word);
  }
  return names;
}

const used = new Set();
function checkExpr(expr, where) {
  const names = metricNames(expr);
  if (names.length === 0) problems.push(`${where}: names no metric: ${expr}`);
  for (const name of names) {
    if (builtins.has(name)) continue;
    const listed = listedMetric(name);
    if (listed === null) {
      problems.push(`${where}: ${name} is not in ${path.basename(namesFile)}`
                    + (metrics.get(name) === "histogram" ? " (a histogram: use _bucket, _sum or _count)" : ""));
    } else {
      used.add(listed);
    }
  }
}

// --- The render: PrometheusRule and the dashboard ConfigMap ---------------------------------------
const objects = YAML.parseAllDocuments(fs.readFileSync(renderFile, "utf8"))
  .map((d) => d.toJS()).filter((o) => o && o.kind);
const ruleObjects = objects.filter((o) => o.kind === "PrometheusRule");
if (ruleObjects.length !== 1) problems.push(`render: ${ruleObjects.length} PrometheusRules, want 1`);
let alerts = 0;
for (const rule of ruleObjects) {
  for (const group of rule.spec.groups ?? []) {
    for (const r of group.rules ?? []) {
      const where = `PrometheusRule ${group.name}/${r.alert ?? r.record}`;
      checkExpr(String(r.expr), where);
      if (!r.alert) continue;
      alerts++;
      if (!["warning", "critical"].includes(r.labels?.severity)) problems.push(`${where}: severity must be warning or critical`);
      for (const a of ["summary", "description"]) {
        if (!r.annotations?.[a]) problems.push(`${where}: no ${a} annotation`);
      }
    }
  }
  fs.writeFileSync(path.join(outDir, "rules.yaml"), YAML.stringify(rule.spec));
  const bare = structuredClone(rule.spec);
  for (const group of bare.groups ?? []) for (const r of group.rules ?? []) delete r.annotations;
  fs.writeFileSync(path.join(outDir, "rules-bare.yaml"), YAML.stringify(bare));
}
const rulesUsed = new Set(used);

const dashboardText = fs.readFileSync(dashboardFile, "utf8");
const maps = objects.filter((o) => o.kind === "ConfigMap" && o.data?.[path.basename(dashboardFile)] !== undefined);
if (maps.length !== 1) {
  problems.push(`render: ${maps.length} ConfigMaps carry ${path.basename(dashboardFile)}, want 1`);
} else if (maps[0].data[path.basename(dashboardFile)] !== dashboardText.replace(/\n$/, "")) {
  problems.push(`ConfigMap/${maps[0].metadata.name}: its dashboard differs from ${dashboardFile}`);
}

// --- The dashboard --------------------------------------------------------------------------------
used.clear();
let dashboard;
try {
  dashboard = JSON.parse(dashboardText);
} catch (e) {
  problems.push(`${dashboardFile}: ${e.message}`);
  dashboard = { panels: [] };
}
// Grafana's variables, replaced by values of the same shape for promtool.
const substitute = (expr) => expr
  .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}/g, "5m")
  .replace(/\$\{(\w+)(:\w+)?\}|\$(\w+)/g, ".*");
const exprRules = [];
const ids = new Set();
const flat = (dashboard.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]);
let queried = 0;
for (const panel of flat) {
  const where = `dashboard panel "${panel.title}"`;
  if (ids.has(panel.id)) problems.push(`${where}: duplicate id ${panel.id}`);
  ids.add(panel.id);
  if (!panel.gridPos) problems.push(`${where}: no gridPos`);
  if (panel.type === "row") continue;
  if (panel.datasource?.uid !== "${datasource}") problems.push(`${where}: datasource is not \${datasource}`);
  const targets = (panel.targets ?? []).filter((t) => typeof t.expr === "string" && t.expr.trim());
  if (targets.length === 0) problems.push(`${where}: no query`);
  for (const t of targets) {
    checkExpr(t.expr, `${where} ${t.refId}`);
    exprRules.push({ record: `dashboard:panel_${panel.id}:${t.refId}`, expr: substitute(t.expr) });
    queried++;
  }
}
for (const v of dashboard.templating?.list ?? []) {
  if (v.type !== "query") continue;
  const query = typeof v.query === "string" ? v.query : v.query?.query ?? "";
  const m = /^label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)$/.exec(query.trim());
  if (!m) {
    problems.push(`dashboard variable ${v.name}: not a label_values(SELECTOR, LABEL) query: ${query}`);
    continue;
  }
  checkExpr(m[1], `dashboard variable ${v.name}`);
  exprRules.push({ record: `dashboard:variable:${v.name}`, expr: substitute(m[1]) });
}
for (const name of metrics.keys()) {
  if (!used.has(name)) problems.push(`dashboard: no panel shows ${name}`);
}
fs.writeFileSync(path.join(outDir, "dashboard-rules.yaml"),
                 YAML.stringify({ groups: [{ name: "dashboard", rules: exprRules }] }));

console.log(`metrics_check.mjs: ${alerts} alerts naming ${rulesUsed.size} metrics; dashboard: `
            + `${flat.length} panels, ${queried} queries, ${used.size} of ${metrics.size} listed metrics shown: `
            + (problems.length ? "FAIL" : "ok"));
for (const p of problems) console.log(`  ${p}`);
process.exit(problems.length ? 1 : 0);
