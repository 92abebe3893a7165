// `npm run build`: the Node entries as plain JavaScript, so the processes npm start runs
// compile nothing (no TypeScript loader, not even at start-up, in each of the API's workers):
//   functions/node/server.ts  →  dist/node/server.js   the API
//   scripts/worker.ts         →  dist/node/worker.js   mail and webhook delivery
// Our code is bundled into one file per entry; npm packages stay imports from node_modules
// (as installed: package-lock.json, patches/ applied). dist/node/ sits as deep as
// functions/node/, so the entries find the project's .env where they would from source.
// Source maps go along: run with node --enable-source-maps for stack traces in the sources.
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const distDir = path.join(root, "dist/node");

export async function buildNode(): Promise<void> {
  await build({
    entryPoints: {
      server: path.join(root, "functions/node/server.ts"),
      worker: path.join(root, "scripts/worker.ts"),
    },
    outdir: distDir,
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    // The API's primary loads the app only in its workers (dynamic imports): separate chunks.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    target: "node20",
    sourcemap: "linked",
    logLevel: "warning",
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  await buildNode();
  console.log(`[build] dist/node/server.js and worker.js in ${Math.round(performance.now() - started)} ms`);
}
