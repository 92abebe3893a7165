// The import graph of functions/, checked by npm test right after the type-check:
//   * no import cycles anywhere: no module reaches itself through its imports (type-only
//     imports count too: a cycle of types today is a cycle of values tomorrow);
//   * no route file imports another route file: what routes share lives in the kit
//     (functions/http/) or in the resource's own folder (functions/campaigns/, …).
// dpdm builds the graph with the TypeScript parser, so `.ts` specifiers resolve as written.
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseCircular, parseDependencyTree, prettyCircular } from "dpdm";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const routes = "functions/routes/";

const tree = await parseDependencyTree("functions/**/*.ts", { cwd: root, context: root, transform: false });
const files = Object.keys(tree).filter((file) => file.startsWith("functions/"));
if (files.length === 0) throw new Error("No files matched functions/**/*.ts");

const cycles = parseCircular(tree);
const routeImports = files
  .filter((file) => file.startsWith(routes))
  .flatMap((file) => (tree[file] ?? [])
    .filter((dependency) => dependency.id?.startsWith(routes))
    .map((dependency) => `  ${file} imports ${dependency.id}`));

if (cycles.length > 0) {
  console.error(`Import cycles in functions/ (move what both sides need into a module that imports neither):\n${prettyCircular(cycles)}`);
}
if (routeImports.length > 0) {
  console.error(`Route files importing route files (move what they share to functions/http/ or the resource's folder):\n${routeImports.join("\n")}`);
}
if (cycles.length > 0 || routeImports.length > 0) process.exit(1);
console.log(`  ${files.length} modules in functions/: no cycles, no route file imports another`);
