// `npm run build:edge`: bundles the Edge Function's source (supabase/functions/openclaw/edge.ts,
// which imports the app from functions/) into supabase/functions/openclaw/dist/edge.js, the
// one file the deployed entry (index.ts) imports. Supabase's bundler only takes files under
// supabase/functions/, and resolves npm: packages itself from the registry, which would ship
// postgres.js without our patch; this bundle carries the npm packages exactly as installed
// in node_modules (package-lock.json, patches/ applied), and imports nothing but node:
// builtins, which Deno and the Edge Runtime provide. dist/ is git-ignored: build before
// deploying, `npm test` builds it too.
import { build, type Metafile, type Plugin } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { builtinModules } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { readAssetFiles } from "../functions/node/dashboard-assets.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const functionDir = path.join(root, "supabase/functions/openclaw");
export const bundlePath = path.join(functionDir, "dist/edge.js");
export const metafilePath = path.join(functionDir, "dist/edge.meta.json");

const builtins = new Set(builtinModules.filter((name) => !name.startsWith("_")));

/** Node builtins stay imports, spelled node:… as Deno requires ("net" alone does not resolve there). */
const nodeBuiltins: Plugin = {
  name: "node-builtins",
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, "");
      if (!builtins.has(name) && !builtins.has(name.split("/")[0]!)) return undefined;
      return { path: `node:${name}`, external: true };
    });
  },
};

/**
 * The dashboard's assets inside the bundle: a deployed function has no files but its bundle, so
 * functions/node/dashboard-assets.ts (which reads them from disk on Node) is replaced by a module
 * that returns the same texts, read here at build time by that module's own function.
 */
const inlineDashboardAssets: Plugin = {
  name: "inline-dashboard-assets",
  setup(build) {
    build.onLoad({ filter: /[\\/]functions[\\/]node[\\/]dashboard-assets\.ts$/ }, async () => {
      const files = await readAssetFiles();
      return {
        loader: "ts",
        contents: `export const assetFileNames = ${JSON.stringify(Object.keys(files))};\n`
          + `export async function readAssetFiles() { return ${JSON.stringify(files)}; }\n`,
      };
    });
  },
};

export interface EdgeBuild {
  bytes: number;
  /** Every import the bundle keeps (all node: builtins). */
  imports: string[];
  /** The source files bundled, relative to the repository. */
  inputs: string[];
}

export async function buildEdge(): Promise<EdgeBuild> {
  const result = await build({
    entryPoints: [path.join(functionDir, "edge.ts")],
    outfile: bundlePath,
    bundle: true,
    format: "esm",
    // Resolve packages as Deno does for npm packages (deno, node, import conditions), keeping
    // node builtins external.
    platform: "node",
    conditions: ["deno", "node", "import"],
    target: "es2022",
    plugins: [nodeBuiltins, inlineDashboardAssets],
    legalComments: "eof",
    metafile: true,
    logLevel: "warning",
  });
  const metafile: Metafile = result.metafile;
  await writeFile(metafilePath, JSON.stringify(metafile));
  const output = Object.values(metafile.outputs)[0]!;
  const imports = [...new Set(output.imports.map((i) => i.path))].sort();
  const foreign = imports.filter((specifier) => !specifier.startsWith("node:"));
  if (foreign.length > 0) {
    throw new Error(`the Edge bundle must import only node: builtins, but imports ${foreign.join(", ")}: bundle them (or mark them node:)`);
  }
  // A CommonJS package that require()s a builtin would fail at run time in an ES module
  // (esbuild's __require throws "Dynamic require … is not supported"): refuse it here.
  const dynamic = (await readFile(bundlePath, "utf8")).match(/\b__require\(\s*["'][^"']+["']\s*\)/g);
  if (dynamic) {
    throw new Error(`the Edge bundle would require() ${[...new Set(dynamic)].join(", ")} at run time, which an ES module cannot: prefer the package's ES module build`);
  }
  return { bytes: output.bytes, imports, inputs: Object.keys(metafile.inputs).sort() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const built = await buildEdge();
  console.log(`[build:edge] ${path.relative(root, bundlePath)}: ${(built.bytes / 1024 / 1024).toFixed(1)} MiB from ${built.inputs.length} files `
    + `in ${Date.now() - started} ms; imports ${built.imports.join(", ")}`);
}
